//! The registration request delay (RFC 6076 §4.1) as a Prometheus
//! histogram, encoded from the tracker's buckets ([`DelayBuckets`]) rather
//! than observed again: the tracker already counts every successful
//! attempt, dropped bindings included.
use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::{EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric},
};

use crate::track::{DelayBuckets, RRD_BUCKETS_S};

/// The histogram a scrape encodes; [`DelayHistogram::set`] on each tick.
#[derive(Clone, Debug, Default)]
pub(super) struct DelayHistogram(Arc<Mutex<DelayBuckets>>);

impl DelayHistogram {
    pub(super) fn set(&self, d: DelayBuckets) {
        if let Ok(mut held) = self.0.lock() {
            *held = d;
        }
    }
}

impl TypedMetric for DelayHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DelayHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let d = self.0.lock().map(|d| *d).unwrap_or_default();
        let buckets: Vec<(f64, u64)> = RRD_BUCKETS_S
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(d.counts)
            .collect();
        encoder.encode_histogram::<NoLabelSet>(d.sum_us as f64 / 1e6, d.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
