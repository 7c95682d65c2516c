//! Table cells of the experiment commands: means with their spread over seeds.
use ssl_core::eval::mean_std;
use ssl_vision::pipeline::EvalReport;

/// `mean ± sd` of `values` (percent points when `percent`); the mean alone for one value.
pub fn cell(values: &[f64], percent: bool) -> String {
    let scale = if percent { 100.0 } else { 1.0 };
    let (m, s) = mean_std(values);
    if values.len() > 1 {
        format!("{:.2} ± {:.2}", scale * m, scale * s)
    } else {
        format!("{:.2}", scale * m)
    }
}

/// kNN and linear cells over reports of one row, one report per encoder seed: the kNN's
/// spread is over encoder seeds; the linear probe's over encoder seeds where there are
/// several, else over the probe's own seeds.
pub fn accuracy_cells(reports: &[EvalReport]) -> (String, String) {
    let knn: Vec<f64> = reports.iter().map(|r| r.knn_top1).collect();
    let linear: Vec<f64> = if reports.len() > 1 {
        reports.iter().map(|r| r.linear_top1).collect()
    } else {
        reports.iter().flat_map(|r| r.linear_runs.iter().map(|p| p.test_accuracy)).collect()
    };
    (cell(&knn, true), cell(&linear, true))
}

/// One line of the tables: name, kNN, linear, then the given extra cells.
pub fn row(name: &str, reports: &[EvalReport], extra: &[String]) -> String {
    let (knn, linear) = accuracy_cells(reports);
    let mut line = format!("| {name} | {knn} | {linear} | {} |", reports.len());
    for e in extra {
        line.push_str(&format!(" {e} |"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_the_spread_only_over_several_values() {
        assert_eq!(cell(&[0.8, 0.82, 0.84], true), "82.00 ± 2.00");
        assert_eq!(cell(&[0.8], true), "80.00");
        assert_eq!(cell(&[1.5, 2.5], false), "2.00 ± 0.71");
    }
}
