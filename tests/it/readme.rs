//! The README's examples run: every client config block starts a working proxy, and every
//! `mcp-remote` command line in a shell block works against a fake server standing in for
//! example.com. A README change that breaks an example breaks this test. The flag table, like
//! `--help`, names every flag the parser in `src/cli.rs` takes.

use std::process::Stdio;

use serde_json::{json, Value};

use crate::support::*;

const README: &str = include_str!("../../README.md");

/// The contents of every fenced block whose info string is `lang` (indented fences too).
fn blocks(lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in README.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut current {
            None if trimmed == format!("```{lang}") => current = Some((indent, String::new())),
            Some(_) if trimmed == "```" => {
                if let Some((_, text)) = current.take() {
                    out.push(text);
                }
            }
            Some((ind, text)) => {
                text.push_str(line.get(*ind..).unwrap_or(trimmed));
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Splits a command line the way a POSIX shell would for these examples: quotes, no expansion.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A server with what the README's examples use: tools fetch and echo, a resource, a prompt.
fn example_server() -> Server {
    Server::start(|req, resp| {
        let id = req.rpc_id();
        let p = req.json()["params"].clone();
        let result = match (req.method.as_str(), req.rpc_method().as_str()) {
            ("GET", _) => return resp.status(405, ""),
            ("DELETE", _) => return resp.status(200, ""),
            (_, "initialize") => {
                return resp.json(&[("Mcp-Session-Id", "readme")], &init_result(&id))
            }
            (_, m) if m.starts_with("notifications/") => return resp.accepted(),
            (_, "tools/list") => json!({"tools":[
                {"name":"fetch","description":"Fetch a URL","inputSchema":{"type":"object","required":["url"],
                    "properties":{"url":{"type":"string"},"max_length":{"type":"integer"}}}},
                {"name":"echo","description":"Echo","inputSchema":{"type":"object","required":["message"],
                    "properties":{"message":{"type":"string"},"loud":{"type":"boolean"}}}}]}),
            (_, "tools/call") => {
                json!({"content":[{"type":"text","text":format!("{} {}", p["name"], p["arguments"])}]})
            }
            (_, "resources/list") => {
                json!({"resources":[{"uri":"file:///notes.txt","name":"notes"}]})
            }
            (_, "resources/read") => {
                json!({"contents":[{"uri":p["uri"],"mimeType":"text/plain","text":"the notes"}]})
            }
            (_, "resources/templates/list") => json!({"resourceTemplates":[]}),
            (_, "prompts/list") => {
                json!({"prompts":[{"name":"review","arguments":[{"name":"code"}]}]})
            }
            (_, "prompts/get") => {
                json!({"messages":[{"role":"user","content":{"type":"text","text":format!("review {}", p["arguments"]["code"])}}]})
            }
            (_, "ping") => json!({}),
            (_, other) => {
                return resp.json(
                    &[],
                    &json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":other}}),
                )
            }
        };
        resp.json(&[], &json!({"jsonrpc":"2.0","id":id,"result":result}))
    })
}

/// The example URLs the README uses, pointed at the fake server.
fn local(arg: &str, server: &Server) -> String {
    arg.replace("https://mcp.example.com/mcp", &server.url)
        .replace("https://example.com/mcp", &server.url)
}

/// The arguments and environment of one configured launch of mcp-remote.
type Launch = (Vec<String>, Vec<(String, String)>);

/// Every `{"command": "mcp-remote", "args": [...], "env": {...}}` in `v`.
fn launches(v: &Value, out: &mut Vec<Launch>) {
    match v {
        Value::Object(o) => {
            let cmd = o.get("command");
            let (is_us, args) = match cmd {
                Some(Value::String(c)) => (c == "mcp-remote", o.get("args")),
                _ => (false, None),
            };
            if is_us {
                let args = args
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let env = o
                    .get("env")
                    .and_then(Value::as_object)
                    .map(|e| {
                        e.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((args, env));
            }
            o.values().for_each(|x| launches(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| launches(x, out)),
        _ => {}
    }
}

fn starts_a_working_proxy(args: &[String], env: &[(String, String)], server: &Server, what: &str) {
    let args: Vec<String> = args.iter().map(|a| local(a, server)).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = command(&argv);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = Proxy::spawn(cmd);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert!(r.get("result").is_some(), "{what}: {r}\n{}", p.stderr());
    let (st, _) = p.close();
    assert!(st.success(), "{what}: exit {st:?}");
}

#[test]
fn every_client_config_starts_a_working_proxy() {
    let server = example_server();
    let mut found = 0;
    for block in blocks("json") {
        let v: Value = serde_json::from_str(&block)
            .unwrap_or_else(|e| panic!("README json block does not parse ({e}):\n{block}"));
        let mut l = Vec::new();
        launches(&v, &mut l);
        for (args, env) in l {
            starts_a_working_proxy(&args, &env, &server, &block);
            found += 1;
        }
    }
    // Claude Code's command line is a config too.
    for block in blocks("sh") {
        for line in block.lines().filter(|l| l.starts_with("claude mcp add")) {
            let w = words(line);
            let at = w
                .iter()
                .position(|x| x == "--")
                .expect("`--` before the command");
            assert_eq!(w[at + 1], "mcp-remote", "{line}");
            starts_a_working_proxy(&w[at + 2..], &[], &server, line);
            found += 1;
        }
    }
    // Claude Desktop (two), Claude Code, Cursor, Windsurf, VS Code and Zed.
    assert!(
        found >= 7,
        "only {found} client configs found in the README"
    );
}

#[test]
fn every_one_shot_example_works() {
    let server = example_server();
    let mut ran = 0;
    for block in blocks("sh") {
        for line in block.lines() {
            let line = line
                .split("  #")
                .next()
                .unwrap_or("")
                .split(" > ")
                .next()
                .unwrap_or("")
                .trim();
            if !line.starts_with("mcp-remote ") {
                continue;
            }
            let w = words(line);
            // Sign-in commands run against a real authorization server in scripts/interop.sh.
            if w.iter()
                .any(|a| matches!(a.as_str(), "--login" | "--logout" | "--auth-status"))
            {
                continue;
            }
            let args: Vec<String> = w[1..].iter().map(|a| local(a, &server)).collect();
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = command(&argv)
                .stdin(Stdio::null())
                .output()
                .expect("run mcp-remote");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && !stdout.trim().is_empty(),
                "README example failed: {line}\nexit {:?}\nstdout: {stdout}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} one-shot examples found in the README");
}

#[test]
fn shell_words_follow_the_quotes() {
    assert_eq!(
        words(r#"a 'b c' "d e" f='{"x": 1}' ''"#),
        ["a", "b c", "d e", r#"f={"x": 1}"#, ""]
    );
}

/// Every flag the parser in `src/cli.rs` matches, as typed (`--header`, `-c`).
fn parsed_flags() -> Vec<String> {
    let src = include_str!("../../src/cli.rs");
    let start = src.find("fn parse_from").expect("parse_from in cli.rs");
    let end = start
        + src[start..]
            .find("\nfn ")
            .expect("a function after parse_from");
    let mut body = &src[start..end];
    let mut out = Vec::new();
    while let Some(i) = body.find("Short('") {
        out.push(format!("-{}", &body[i + 7..i + 8]));
        body = &body[i + 8..];
    }
    let mut body = &src[start..end];
    while let Some(i) = body.find("Long(") {
        // The pattern runs to its closing parenthesis; every string in it is a flag.
        let (mut depth, mut close) = (0, 0);
        for (j, c) in body[i..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 1 => {
                    close = i + j;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let pattern = &body[i..close];
        out.extend(
            pattern
                .split('"')
                .skip(1)
                .step_by(2)
                .map(|name| format!("--{name}")),
        );
        body = &body[close..];
    }
    out
}

/// Whether `text` names `flag` in backticks or on its own (not as the start of a longer flag).
fn names(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + flag.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn the_flag_table_and_help_name_every_flag() {
    let flags = parsed_flags();
    assert!(flags.len() > 50, "{flags:?}");
    let start = README
        .find("\n## Command line")
        .expect("a Command line section");
    let end = start + 1 + README[start + 1..].find("\n## ").expect("a next section");
    let table = &README[start..end];
    let help = command(&["--help"]).output().expect("run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in &flags {
        assert!(
            names(table, flag),
            "the README's flag table does not name {flag}"
        );
        assert!(names(&help, flag), "--help does not name {flag}");
    }
}
