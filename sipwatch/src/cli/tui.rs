//! What `analyze --tui` and `attach --tui` share at the command's edge.
use std::io::IsTerminal;

/// `--tui` draws on standard output and reads keys from the terminal: it
/// refuses to start without one (a pipe, a service) rather than fill a
/// file with escape sequences.
pub fn need_a_terminal() -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "--tui needs a terminal on standard output; without one, use --events, --json or the summary"
        );
    }
    Ok(())
}
