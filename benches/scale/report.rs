//! The bench's output: one table on stdout, the same figures as JSON.

use serde_json::{Map, Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    Fail,
    /// A figure without a target.
    Info,
    /// The phase that measures it did not complete.
    NotMeasured,
}

impl Verdict {
    pub fn of(pass: bool) -> Verdict {
        if pass { Verdict::Pass } else { Verdict::Fail }
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Info => "",
            Verdict::NotMeasured => "NOT MEASURED",
        }
    }
}

pub struct Row {
    pub figure: String,
    pub measured: String,
    pub target: String,
    pub verdict: Verdict,
    /// The numbers behind the row.
    pub data: Value,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Everything else worth keeping: knobs, machine, raw counts per phase.
    pub extra: Map<String, Value>,
}

impl Report {
    pub fn row(
        &mut self,
        figure: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
        data: Value,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            measured: measured.into(),
            target: target.into(),
            verdict,
            data,
        });
    }

    /// A figure a phase could not measure, with the reason.
    pub fn missing(&mut self, figure: impl Into<String>, target: impl Into<String>, why: impl Into<String>) {
        let why = why.into();
        self.row(figure, why.clone(), target, Verdict::NotMeasured, json!({"why": why}));
    }

    pub fn set(&mut self, key: &str, value: Value) {
        self.extra.insert(key.to_string(), value);
    }

    pub fn table(&self) -> String {
        let width =
            |f: &dyn Fn(&Row) -> usize, header: usize| self.rows.iter().map(f).max().unwrap_or(0).max(header);
        let w0 = width(&|r| r.figure.chars().count(), 6);
        let w1 = width(&|r| r.measured.chars().count(), 8);
        let w2 = width(&|r| r.target.chars().count(), 15);
        let mut out = format!("{:<w0$}  {:<w1$}  {:<w2$}  verdict\n", "figure", "measured", "target / bound");
        out.push_str(&format!("{}\n", "-".repeat(w0 + w1 + w2 + 15)));
        for r in &self.rows {
            out.push_str(
                format!("{:<w0$}  {:<w1$}  {:<w2$}  {}", r.figure, r.measured, r.target, r.verdict.text())
                    .trim_end(),
            );
            out.push('\n');
        }
        out
    }

    pub fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "figure": r.figure,
                    "measured": r.measured,
                    "target": r.target,
                    "verdict": r.verdict.text(),
                    "data": r.data,
                })
            })
            .collect();
        let mut out = self.extra.clone();
        out.insert("figures".to_string(), Value::Array(rows));
        Value::Object(out)
    }
}

/// Seconds as a person reads them.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        "-".to_string()
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}
