//! docs/commands.md is clap's own `--help` output, so that the command
//! reference cannot go stale: this test runs `sipwatch <command> --help` for
//! every command and checks that the reference holds exactly that text.
//! No root needed.
//!
//! After changing an option or its doc comment, regenerate the reference:
//!
//! ```sh
//! SIPWATCH_UPDATE_DOCS=1 cargo test -p sipwatch --test commands_doc
//! ```
use std::{path::PathBuf, process::Command};

/// The commands in the order the reference lists them; `None` is
/// `sipwatch --help` itself.
const COMMANDS: [Option<&str>; 8] = [
    None,
    Some("attach"),
    Some("analyze"),
    Some("echo"),
    Some("probe"),
    Some("doctor"),
    Some("lint"),
    Some("hep-listen"),
];

/// Set to rewrite docs/commands.md from the binary's help instead of checking it.
const UPDATE: &str = "SIPWATCH_UPDATE_DOCS";

const REGENERATE: &str = "SIPWATCH_UPDATE_DOCS=1 cargo test -p sipwatch --test commands_doc";

const INTRO: &str = "\
# sipwatch commands

The reference of every command and option, exactly as `sipwatch --help` and
`sipwatch <command> --help` print it. It is generated from the same clap
definitions as the binary (`sipwatch/src/cli/`), and
`sipwatch/tests/commands_doc.rs` fails when it differs from what the binary
prints. After changing an option or its doc comment, regenerate it with

```sh
SIPWATCH_UPDATE_DOCS=1 cargo test -p sipwatch --test commands_doc
```

The [README](../README.md) shows each command at work; JSON output is
described in [json.md](json.md).
";

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/commands.md")
}

/// `sipwatch [command] --help`, as the binary prints it.
fn help(command: Option<&str>) -> String {
    let mut run = Command::new(env!("CARGO_BIN_EXE_sipwatch"));
    run.args(command).arg("--help");
    let output = run.output().expect("sipwatch runs");
    assert!(
        output.status.success(),
        "sipwatch {} --help failed: {}",
        command.unwrap_or(""),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// The reference's section for one command: its heading and the help verbatim.
fn section(command: Option<&str>, help: &str) -> String {
    let title = match command {
        Some(c) => format!("sipwatch {c}"),
        None => "sipwatch".to_owned(),
    };
    let newline = if help.ends_with('\n') { "" } else { "\n" };
    format!("## {title}\n\n```text\n{help}{newline}```\n")
}

#[test]
fn the_command_reference_is_what_the_binary_prints() {
    let sections: Vec<(Option<&str>, String)> = COMMANDS
        .iter()
        .map(|&c| (c, section(c, &help(c))))
        .collect();
    let path = reference_path();
    if std::env::var_os(UPDATE).is_some() {
        let body: Vec<&str> = sections.iter().map(|(_, s)| s.as_str()).collect();
        let text = format!("{INTRO}\n{}", body.join("\n"));
        std::fs::write(&path, text).expect("docs/commands.md written");
        return;
    }
    let reference = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; generate it with `{REGENERATE}`",
            path.display()
        )
    });
    for (command, expected) in &sections {
        assert!(
            reference.contains(expected.as_str()),
            "docs/commands.md does not hold what `sipwatch {}--help` prints now:\n\n{expected}\n\
             Regenerate it with `{REGENERATE}` and commit the result.",
            command.map(|c| format!("{c} ")).unwrap_or_default()
        );
    }
}
