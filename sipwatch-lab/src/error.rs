use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "the lab needs {tool} (Debian package {package}), which is not installed: run `cargo \
         xtask setup`"
    )]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("the lab needs root (network namespaces, veth pairs, nftables): run as root")]
    NotRoot,
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{what} failed")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Timeout(String),
}

impl LabError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> LabError {
        let what = what.into();
        move |source| LabError::Io { what, source }
    }
}
