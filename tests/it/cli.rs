//! The command line as a user meets it: help, version, and refusals before any network traffic.

use std::process::Stdio;

use crate::support::*;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = command(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mcp-remote");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn help_and_version_go_to_stdout() {
    let (code, out, err) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("mcp-remote: use a remote MCP server"),
        "{out}"
    );
    for flag in [
        "--header",
        "--allow-http",
        "--transport",
        "--ignore-tool",
        "--debug",
        "--silent",
        "--auth-timeout",
        "--static-oauth-client-metadata",
        "--static-oauth-client-info",
        "--resource",
        "--host",
        "--config-dir",
        "MCP_REMOTE_CONFIG_DIR",
        "BROWSER",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}");
    }
    assert_eq!(err, "");
    let (code, out, _) = run(&["--version"]);
    assert_eq!(
        (code, out.as_str()),
        (0, concat!("mcp-remote ", env!("CARGO_PKG_VERSION"), "\n"))
    );
}

#[test]
fn bad_arguments_exit_2_naming_the_flag_without_network() {
    // A server that would record any traffic: none may arrive.
    let server = Server::start(|_, resp| resp.status(500, "should not be called"));
    let cases: &[(&[&str], &str)] = &[
        (
            &["--header", "Mcp-Session-Id: x"],
            "--header: header Mcp-Session-Id is set by mcp-remote",
        ),
        (
            &["--header", "Authorization: Bearer ${NOT_SET_ANYWHERE}"],
            "--header: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            &["--transport", "carrier-pigeon"],
            "--transport: \"carrier-pigeon\" is not one of",
        ),
        (
            &["--auth-timeout", "later"],
            "--auth-timeout: \"later\" is not a duration",
        ),
        (&["--frobnicate"], "invalid option '--frobnicate'"),
    ];
    for (args, want) in cases {
        let mut all = vec![server.url.as_str()];
        all.extend_from_slice(args);
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("mcp-remote: error: ") && first.contains(want),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = run(&["http://example.com/mcp"]);
    assert_eq!(code, 2);
    assert!(err.contains("--allow-http"), "{err}");
    assert!(server.requests().is_empty());
}

/// The first stderr line of a run that failed on its command line.
fn usage_error(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
    err.lines().next().unwrap_or("").to_string()
}

#[test]
fn errors_name_the_flag_as_typed() {
    let server = basic_server("s1", |_, _| false);
    let url = server.url.as_str();
    assert_eq!(
        usage_error(&[url, "--token", "--ping"]),
        "mcp-remote: error: --token and --ping cannot be combined: give one command"
    );
    assert_eq!(
        usage_error(&[url, "--command", "t a=1 {\"x\":1}"]),
        "mcp-remote: error: --command: give one JSON object or key=value pairs, not both"
    );
    // Found out only once connected: still the flag that was typed.
    let ran = run_once(url, &["-c", "nosuch x=1"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert_eq!(
        ran.stderr.lines().next(),
        Some("mcp-remote: error: -c: the server has no tool \"nosuch\" (it has: echo)"),
        "{ran:?}"
    );
    // An Authorization header from a file is named as such.
    let dir = temp_dir("cli-hf");
    let file = dir.join("headers");
    std::fs::write(&file, "Authorization: Bearer t0ken\n").unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(
        usage_error(&[url, "--header-file", file, "--token"]),
        "mcp-remote: error: --token: --header-file gives an Authorization header, so no sign-in happens"
    );
    assert_eq!(
        usage_error(&[url, "--header", "Authorization: Bearer t0ken", "--test-auth"]),
        "mcp-remote: error: --test-auth: --header gives an Authorization header, so no sign-in happens"
    );
}

#[test]
fn a_refused_header_file_token_is_named() {
    let server = Server::start(|_, resp| resp.status(401, "no"));
    let dir = temp_dir("cli-401");
    let file = dir.join("headers");
    std::fs::write(&file, "Authorization: Bearer t0ken\n").unwrap();
    let mut p = Proxy::start(&server.url, &["--header-file", file.to_str().unwrap()]);
    p.send(&initialize(0));
    let r = p.recv_response(&serde_json::json!(0));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.ends_with("(the server refused the Authorization header given with --header-file)"),
        "{r}"
    );
    p.close();
    let ran = run_once(
        &server.url,
        &["--doctor", "--header-file", file.to_str().unwrap()],
    );
    assert!(
        ran.stdout.contains(
            "the server refuses the Authorization header given with --header-file (HTTP 401)"
        ),
        "{ran:?}"
    );
}

#[test]
fn npm_sign_in_flags_given_wrongly() {
    let cases = [
        (&["--device-code", "--client-credentials", "--static-oauth-client-info", r#"{"client_id":"a","client_secret":"b"}"#][..], "--client-credentials and --device-code cannot be used together"),
        (&["--client-credentials"], "--client-credentials: needs --static-oauth-client-info with the client's \"client_id\" and \"client_secret\""),
        (&["--token-endpoint", "https://as.example/token"], "--token-endpoint: only goes with --client-credentials"),
    ];
    for (args, want) in cases {
        let mut all = vec!["https://example.com/mcp"];
        all.extend_from_slice(args);
        assert_eq!(usage_error(&all), format!("mcp-remote: error: {want}"));
    }
}

#[test]
fn npm_flags_that_change_nothing_are_accepted() {
    let server = basic_server("s1", |_, _| false);
    let ran = run_once(&server.url, &["--ping", "--body-timeout", "0", "--debug"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr
            .contains("mcp-remote: debug: --body-timeout has no effect: mcp-remote never cuts"),
        "{ran:?}"
    );
}
