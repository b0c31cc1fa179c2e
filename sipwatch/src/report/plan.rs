//! The whole list of a run's outputs, built in one place from what the
//! command line asked for: the view on standard output, `--write`'s
//! pcapng file, `--metrics`' endpoint, `--hep`'s sender (and, as it
//! comes, `--tui`'s screen: one more field and one more push).
//! `attach` and `analyze` both build theirs here.
use std::{net::SocketAddr, path::PathBuf};

use super::{HepOutput, HepPlan, Metrics, Output, PcapNgOutput, View, metrics::MetricsError};
use crate::capture::file::{FileError, PcapNgWriter, Rotation};

/// `--write`: every frame into a pcapng file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePlan {
    /// The file (with rotation, the first of its series).
    pub path: PathBuf,
    /// `--rotate` / `--keep`.
    pub rotation: Option<Rotation>,
    /// `--tls-keylog`: embedded as Decryption Secrets Blocks.
    pub tls_keylog: Option<PathBuf>,
}

/// What the outputs of a run are to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputPlan {
    /// What standard output shows.
    pub view: View,
    /// `--write`.
    pub write: Option<WritePlan>,
    /// `--metrics`: where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// `--config-dir`: the registrations Asterisk's configuration sends,
    /// so that each fix names its section.
    pub config: Option<std::sync::Arc<crate::pbx::config::trunks::Trunks>>,
    /// `--hep`: where to send every message and diagnosis as HEP.
    pub hep: Option<HepPlan>,
}

/// Why an output could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The metrics endpoint could not listen; the error says where and why.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The `--write` file could not be created: a missing directory, no
    /// permission.
    #[error("opening the capture file")]
    Write(#[source] FileError),
    /// A `--hep` receiver does not resolve, or its socket cannot open.
    #[error("--hep")]
    Hep(#[from] crate::hep::send::SendError),
}

/// The outputs built, and what the user is to be told of them.
pub struct Outputs {
    /// In the order they write to standard output.
    pub list: Vec<Box<dyn Output>>,
    /// Where the metrics are served, once listening.
    pub metrics_at: Option<SocketAddr>,
}

impl OutputPlan {
    /// Only the view (`analyze`, a library caller).
    pub fn view(view: View) -> Self {
        Self {
            view,
            write: None,
            metrics: None,
            config: None,
            hep: None,
        }
    }

    /// Builds every output: the view's, then the metrics (listening from
    /// now on), then the HEP senders (their receivers resolved now), then
    /// the pcapng file (created now).
    pub fn build(&self) -> Result<Outputs, PlanError> {
        let mut list = self.view.outputs_with(self.config.clone());
        let mut metrics_at = None;
        let mut hep_metrics = None;
        if let Some(addr) = self.metrics {
            let metrics = Metrics::new();
            metrics_at = Some(super::metrics::serve(addr, metrics.registry())?);
            hep_metrics = Some(metrics.hep());
            list.push(Box::new(metrics));
        }
        if let Some(hep) = &self.hep {
            let output = HepOutput::start(hep.clone(), self.config.clone(), hep_metrics)?;
            list.push(Box::new(output));
        }
        if let Some(w) = &self.write {
            let mut writer = PcapNgWriter::create(&w.path, w.rotation).map_err(PlanError::Write)?;
            if let Some(keylog) = &w.tls_keylog {
                writer = writer.with_secrets(keylog).map_err(PlanError::Write)?;
            }
            // JSON Lines stays JSON: no `written:` line after the summary.
            list.push(Box::new(PcapNgOutput::new(writer, self.view != View::Json)));
        }
        Ok(Outputs { list, metrics_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Detail;

    #[test]
    fn a_view_alone_is_its_outputs() {
        let built = OutputPlan::view(View::Text(Detail::FirstLine))
            .build()
            .unwrap();
        assert_eq!(built.list.len(), 2);
        assert_eq!(built.metrics_at, None);
    }

    #[test]
    fn metrics_and_write_follow_the_view() {
        let dir = std::env::temp_dir().join(format!("sipwatch-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plan = OutputPlan {
            view: View::Json,
            write: Some(WritePlan {
                path: dir.join("run.pcapng"),
                rotation: None,
                tls_keylog: None,
            }),
            metrics: Some("127.0.0.1:0".parse().unwrap()),
            config: None,
            hep: None,
        };
        let built = plan.build().unwrap();
        assert_eq!(built.list.len(), 3);
        assert!(built.metrics_at.is_some_and(|a| a.port() != 0));
        assert!(dir.join("run.pcapng").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
