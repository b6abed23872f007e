//! The comparison's samples: one CSV row per measured value (csv + serde),
//! latency distributions as HDR histograms, and the medians the tables and
//! plots are drawn from.

use std::error::Error;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One measured value, one CSV line:
/// `workload,contender,workers,pinned,round,metric,value`.
///
/// Throughput workloads record `seconds` and `mjobs_per_s`; latency-like
/// ones the quantiles `q0.1` .. `q1` in ns (see [`QUANTILES`]); the others
/// `floor_p50`, `over_10us` (a share of the round trips), `wait_p99`,
/// `job_ns`, `interval_ns`, `cpu_ms_per_s`, `allocs_per_job`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub workload: String,
    pub contender: String,
    pub workers: u32,
    /// `1` or `0` in the file; a file without the column reads as pinned.
    #[serde(with = "flag", default = "pinned_default")]
    pub pinned: bool,
    #[serde(default)]
    pub round: u32,
    pub metric: String,
    pub value: f64,
}

fn pinned_default() -> bool {
    true
}

/// `bool` as `1` / `0`.
mod flag {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(u8::from(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(D::Error::custom(format!("pinned must be 0 or 1, not {v}"))),
        }
    }
}

/// The quantiles recorded for every latency distribution.
pub const QUANTILES: [f64; 7] = [0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];

/// The samples of one run, in the order they were taken.
#[derive(Default)]
pub struct Samples(pub Vec<Sample>);

impl Samples {
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        workload: &str,
        contender: &str,
        workers: usize,
        pinned: bool,
        round: usize,
        metric: &str,
        value: f64,
    ) {
        self.0.push(Sample {
            workload: workload.into(),
            contender: contender.into(),
            workers: workers as u32,
            pinned,
            round: round as u32,
            metric: metric.into(),
            value,
        });
    }

    /// The quantile rows (`q0.5`, ...) of one latency distribution.
    pub fn quantiles(
        &mut self,
        workload: &str,
        contender: &str,
        workers: usize,
        pinned: bool,
        round: usize,
        h: &Histogram<u64>,
    ) {
        for q in QUANTILES {
            let m = format!("q{q}");
            self.row(workload, contender, workers, pinned, round, &m, pct(h, q));
        }
    }
}

/// Writes `samples` to `path` with a header line.
pub fn write_csv(path: &Path, samples: &[Sample]) -> Result<(), Box<dyn Error>> {
    let mut w = csv::Writer::from_path(path)?;
    for s in samples {
        w.serialize(s)?;
    }
    w.flush()?;
    Ok(())
}

/// Reads the samples in `path`; a line that does not parse, or whose value
/// is not finite, is skipped with a warning on stderr.
pub fn read_csv(path: &Path) -> Result<Vec<Sample>, Box<dyn Error>> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)?;
    let mut out = Vec::new();
    for (i, rec) in r.deserialize::<Sample>().enumerate() {
        match rec {
            Ok(s) if s.value.is_finite() && !s.workload.is_empty() && !s.metric.is_empty() => {
                out.push(s)
            }
            Ok(s) => eprintln!(
                "warning: {}: record {}: {s:?} skipped",
                path.display(),
                i + 1
            ),
            Err(e) => eprintln!("warning: {}: {e}; skipped", path.display()),
        }
    }
    Ok(out)
}

/// An HDR histogram (3 significant digits, so within 0.1%) of `samples`,
/// in ns. The workloads collect plain samples in their timed loops and
/// build this afterwards.
pub fn histogram(samples: &[u64]) -> Histogram<u64> {
    // Auto-resizing: `record` grows the range to fit (`saturating_record`
    // would clamp to the initial range instead).
    let mut h = Histogram::new(3).expect("3 significant digits is a valid histogram");
    for &v in samples {
        h.record(v)
            .expect("an auto-resizing histogram records any u64 below 2^62");
    }
    h
}

/// Quantile `q` (0..=1) of `h`, in its unit.
pub fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64
}

/// Median of `v` (which must not be empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Smallest and largest of `v`.
pub fn minmax(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_old_files() {
        let dir = std::env::temp_dir().join(format!("corepool-peers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.csv");
        let mut s = Samples::default();
        s.row(
            "stream/trivial",
            "corepool work-stealing",
            2,
            true,
            0,
            "mjobs_per_s",
            41.7,
        );
        s.quantiles(
            "latency",
            "tokio spawn",
            1,
            false,
            2,
            &histogram(&[100, 200, 5300]),
        );
        write_csv(&path, &s.0).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("workload,contender,workers,pinned,round,metric,value\n"));
        assert!(text.contains("stream/trivial,corepool work-stealing,2,1,0,mjobs_per_s,41.7\n"));
        assert!(text.contains("latency,tokio spawn,1,0,2,q1,"));
        assert_eq!(read_csv(&path).unwrap(), s.0);

        // No `pinned` or `round` column: pinned, round 0. Bad lines skipped.
        std::fs::write(
            &path,
            "workload,contender,workers,metric,value\nlatency,x,1,p99,5\nlatency,x,one,p99,5\n",
        )
        .unwrap();
        let got = read_csv(&path).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].pinned);
        assert_eq!((got[0].round, got[0].value), (0, 5.0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quantiles_within_a_thousandth() {
        let v: Vec<u64> = (1..=10_000).collect();
        let h = histogram(&v);
        for (q, want) in [(0.5, 5_000.0), (0.99, 9_900.0), (1.0, 10_000.0)] {
            let got = pct(&h, q);
            assert!((got - want).abs() <= want * 1e-3, "q{q}: {got} vs {want}");
        }
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(minmax(&[3.0, 1.0, 2.0]), (1.0, 3.0));
    }
}
