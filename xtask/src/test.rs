//! The one command that checks everything: what CI runs.
use crate::{
    run::{cargo, run_command},
    setup,
};

pub fn run() -> anyhow::Result<()> {
    setup::run()?;
    println!("==> cargo fmt --check");
    run_command(cargo().args(["fmt", "--all", "--", "--check"]))?;
    println!("==> cargo clippy -D warnings");
    run_command(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    println!("==> cargo test (unit and lab tests; the lab tests need root)");
    run_command(cargo().args(["test"]))?;
    Ok(())
}
