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
