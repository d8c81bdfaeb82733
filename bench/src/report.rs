//! What a figure is, how the table prints it, and what `bench/results.json` holds.

use serde::Serialize;

/// The median and 99th percentile of a sample, in the sample's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub median: f64,
    pub p99: f64,
    /// How many values the sample had.
    pub runs: usize,
}

impl Stat {
    /// The median and p99 of `values` (nearest rank). `None` for an empty sample.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let index = (q * sorted.len() as f64).ceil() as usize;
            sorted[index.clamp(1, sorted.len()) - 1]
        };
        let median = if sorted.len() % 2 == 1 {
            sorted[sorted.len() / 2]
        } else {
            (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
        };
        Some(Self {
            median,
            p99: rank(0.99),
            runs: sorted.len(),
        })
    }

    /// A value measured once, or exactly the same on every run (a count, a size).
    pub fn exact(value: f64, runs: usize) -> Self {
        Self {
            median: value,
            p99: value,
            runs,
        }
    }
}

/// One line of the table: a measured value and, where the figure has one, the baseline it is
/// compared with, measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The figure of BENCHMARKS.md this line belongs to, 1 to 5.
    pub figure: u8,
    /// What was measured, e.g. "create-order, 8 clients".
    pub subject: String,
    /// The unit of `value` and `baseline`, e.g. "ms", "events/s", "calls", "MiB".
    pub unit: String,
    pub value: Stat,
    /// What the baseline is, e.g. "bare SDK loop" or "floor".
    pub baseline_label: Option<String>,
    pub baseline: Option<Stat>,
    /// Whether the value meets what the figure requires of it (a call count at its floor);
    /// `None` where nothing is required.
    pub meets: Option<bool>,
    /// A few words more, e.g. the calls by operation.
    pub note: String,
}

impl Row {
    pub fn new(
        figure: u8,
        subject: impl Into<String>,
        unit: impl Into<String>,
        value: Stat,
    ) -> Self {
        Self {
            figure,
            subject: subject.into(),
            unit: unit.into(),
            value,
            baseline_label: None,
            baseline: None,
            meets: None,
            note: String::new(),
        }
    }

    pub fn against(mut self, label: impl Into<String>, baseline: Stat) -> Self {
        self.baseline_label = Some(label.into());
        self.baseline = Some(baseline);
        self
    }

    pub fn meets(mut self, meets: bool) -> Self {
        self.meets = Some(meets);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    /// The value's median over the baseline's.
    pub fn ratio(&self) -> Option<f64> {
        let baseline = self.baseline?;
        (baseline.median != 0.0).then(|| self.value.median / baseline.median)
    }
}

/// Formats a value for the table: integers as such, others with three significant digits.
pub fn number(value: f64) -> String {
    if (value.fract() == 0.0 && value.abs() < 1e15) || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The table `make bench` prints.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "fig",
        "subject",
        "unit",
        "median",
        "p99",
        "runs",
        "baseline",
        "base median",
        "ratio",
        "ok",
        "note",
    ];
    let lines: Vec<[String; 11]> = rows
        .iter()
        .map(|row| {
            [
                row.figure.to_string(),
                row.subject.clone(),
                row.unit.clone(),
                number(row.value.median),
                number(row.value.p99),
                row.value.runs.to_string(),
                row.baseline_label.clone().unwrap_or_default(),
                row.baseline.map(|b| number(b.median)).unwrap_or_default(),
                row.ratio().map(|r| format!("{r:.2}")).unwrap_or_default(),
                match row.meets {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => String::new(),
                },
                row.note.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push = |cells: &[String]| {
        let last = cells.len() - 1;
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    };
    push(&header.map(String::from));
    for line in &lines {
        push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99_of_a_sample() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let stat = Stat::of(&values).unwrap();
        assert_eq!((stat.median, stat.p99, stat.runs), (50.5, 99.0, 100));
        let odd = Stat::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.median, odd.p99), (2.0, 3.0));
        assert_eq!(Stat::of(&[]), None);
    }

    #[test]
    fn a_ratio_needs_a_baseline_that_is_not_zero() {
        let row = Row::new(2, "x", "ms", Stat::exact(3.0, 1));
        assert_eq!(row.ratio(), None);
        assert_eq!(
            row.clone().against("bare", Stat::exact(2.0, 1)).ratio(),
            Some(1.5)
        );
        assert_eq!(row.against("bare", Stat::exact(0.0, 1)).ratio(), None);
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let rows = [Row::new(1, "created order", "calls", Stat::exact(2.0, 5))
            .against("floor", Stat::exact(2.0, 1))
            .meets(true)];
        let table = table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("subject"), lines[1].find("created order"));
        assert!(lines[1].contains("1.00") && lines[1].contains("yes"));
    }
}
