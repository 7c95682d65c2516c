//! NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (arXiv 2002.05709).
use super::{check_pair, cross_entropy_per_row, l2_normalize};
use anyhow::Result;
use tch::{Kind, Tensor};

/// NT-Xent loss per anchor, shape `[N, 2]`: column 0 for the anchors of view 1, column 1
/// for view 2. Each of the 2N views is classified against its partner among the other
/// 2N - 1 views; similarities are cosines divided by `temperature`.
pub fn nt_xent_per_view(z1: &Tensor, z2: &Tensor, temperature: f64) -> Result<Tensor> {
    let (n, _) = check_pair("nt_xent", z1, z2, 1)?;
    let z = l2_normalize(&Tensor::cat(&[z1, z2], 0));
    let logits = z.matmul(&z.transpose(0, 1)) / temperature;
    let eye = Tensor::eye(2 * n, (Kind::Bool, z.device()));
    let logits = logits.masked_fill(&eye, f64::NEG_INFINITY);
    let idx = Tensor::arange(n, (Kind::Int64, z.device()));
    let targets = Tensor::cat(&[&idx + n, idx], 0);
    let per_row = cross_entropy_per_row(&logits, &targets);
    Ok(per_row.view([2, n]).transpose(0, 1))
}

/// Mean NT-Xent over all 2N anchors. Identical embeddings give `log(2N - 1)`.
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64) -> Result<Tensor> {
    Ok(nt_xent_per_view(z1, z2, temperature)?.mean(None))
}
