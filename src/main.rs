//! mcp-remote: lets a stdio-only MCP client use a remote MCP server. `main` parses the command
//! line, sets up logging, runs the proxy (or a one-shot command, or a sign-in chore), and is the
//! only place that prints errors and picks the exit code.

#![forbid(unsafe_code)]

mod abort;
mod cli;
mod client;
mod cookies;
mod doctor;
mod egress;
mod endpoint;
mod error;
mod headers;
mod http;
mod jsonrpc;
mod mcp_headers;
mod oauth;
mod out;
mod pool;
mod proxy;
mod secret;
mod sse;
mod trust;
mod url;
mod x509;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use cli::{Config, Special, Verbosity};
use error::Error;

fn main() -> ExitCode {
    let args = match cli::parse_args(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    match args.special {
        Some(Special::Help) => return print_stdout(cli::HELP),
        Some(Special::Version) => {
            return print_stdout(concat!("mcp-remote ", env!("CARGO_PKG_VERSION"), "\n"))
        }
        None => {}
    }
    let cfg = match Config::from_args(args, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    init_logging(cfg.verbosity, cfg.command.is_one_shot());
    log::debug!("{cfg:#?}");
    for (level, note) in cfg.notes() {
        log::log!(level, "{note}");
    }
    if cfg.command.is_one_shot()
        || matches!(
            cfg.command,
            cli::Command::ClientInfo
                | cli::Command::DeleteClient
                | cli::Command::UpdateClient(_)
                | cli::Command::Doctor
        )
    {
        return one_shot(cfg);
    }
    if cfg.command != cli::Command::Proxy {
        return sign_in_command(&cfg);
    }
    let proxy = Arc::new(proxy::Proxy::new(cfg, out::Out::stdout()));
    match proxy.run(std::io::stdin().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// `--list-tools`, `--call` and the other MCP commands (one exchange through the proxy),
/// `--client-info` / `--delete-client` / `--update-client`, or `--doctor`; then exit.
fn one_shot(cfg: Config) -> ExitCode {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut lock = stdout.lock();
    let mut out = client::Output { w: &mut lock, tty };
    let result = if cfg.command.is_one_shot() {
        client::run(cfg, &mut out)
    } else if cfg.command == cli::Command::Doctor {
        // The doctor's own verdict has said what is wrong: a problem only sets the exit code.
        match doctor::run(&cfg, out.w) {
            Ok(false) => return ExitCode::FAILURE,
            other => other.map(drop),
        }
    } else {
        client::manage(cfg, &mut out)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): a normal end.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// `--login`, `--logout`, `--auth-status`: one sign-in chore, then exit.
fn sign_in_command(cfg: &Config) -> ExitCode {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let Some(auth) = oauth::Auth::for_config(cfg, http::Http::new(cfg), stop) else {
        let why = match cfg.authorization_from {
            Some(flag) => format!("{flag} gives an Authorization header, so no sign-in happens"),
            None => "sign-in is unavailable for this server URL".to_string(),
        };
        return fail(&Error::Usage(format!("{}: {why}", cfg.command_flag)));
    };
    match cfg.command {
        cli::Command::Login => match auth.login(None) {
            Ok(()) => {
                eprintln!("mcp-remote: signed in to {}; tokens are stored", cfg.url);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&Error::Protocol(format!("sign-in failed: {e}"))),
        },
        cli::Command::Logout => match auth.logout() {
            Ok(Some(dir)) => {
                eprintln!("mcp-remote: removed {}", dir.display());
                ExitCode::SUCCESS
            }
            Ok(None) => {
                eprintln!("mcp-remote: nothing stored for {}", cfg.url);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&Error::Protocol(e)),
        },
        _ => print_stdout(&auth.status()),
    }
}

/// `--help` and `--version` are the only text besides JSON-RPC that stdout ever carries.
fn print_stdout(text: &str) -> ExitCode {
    let mut so = std::io::stdout().lock();
    match so.write_all(text.as_bytes()).and_then(|_| so.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("mcp-remote: error: {e}");
    match e {
        Error::Usage(_) => {
            eprintln!("mcp-remote: run `mcp-remote --help` for usage");
            ExitCode::from(2)
        }
        _ => ExitCode::FAILURE,
    }
}

/// One-shot commands report every failure themselves, so the proxy's own warnings are left out
/// of their default log.
fn init_logging(v: Verbosity, one_shot: bool) {
    let default = match (v, one_shot) {
        (Verbosity::Silent, _) => "error",
        (Verbosity::Normal, false) => "warn,mcp_remote=info",
        (Verbosity::Normal, true) => "warn,mcp_remote=info,mcp_remote::proxy=error",
        (Verbosity::Debug, _) => "warn,mcp_remote=debug",
    };
    let mut b = env_logger::Builder::new();
    match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => b.parse_filters(&filter),
        _ => b.parse_filters(default),
    };
    b.target(env_logger::Target::Stderr)
        .format(|buf, rec| {
            writeln!(
                buf,
                "mcp-remote: {}: {}",
                rec.level().as_str().to_ascii_lowercase(),
                rec.args()
            )
        })
        .init();
}
