//! Pooling over time: the mean and standard deviation of each channel, plain (x-vector
//! statistics pooling) or under attention weights (ECAPA-TDNN).
use tch::{Kind, Tensor};

/// Variance floor before the square root: keeps the gradient finite on constant inputs.
const VARIANCE_FLOOR: f64 = 1e-5;

/// `[N, C, T] -> [N, 2C]`: each channel's mean over time, then its standard deviation.
pub fn statistics(x: &Tensor) -> Tensor {
    let mean = x.mean_dim([2i64].as_slice(), true, Kind::Float);
    let var = (x - &mean).square().mean_dim([2i64].as_slice(), false, Kind::Float);
    Tensor::cat(&[mean.squeeze_dim(2), var.clamp_min(VARIANCE_FLOOR).sqrt()], 1)
}

/// `[N, C, T]` with weights `[N, C, T]` that sum to 1 over time `-> [N, 2C]`: the
/// weighted mean of each channel, then its weighted standard deviation.
pub fn attentive_statistics(x: &Tensor, weights: &Tensor) -> Tensor {
    let mean = (x * weights).sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
    let second = (x.square() * weights).sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
    let var = second - mean.square();
    Tensor::cat(&[mean, var.clamp_min(VARIANCE_FLOOR).sqrt()], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn uniform_weights_give_the_plain_statistics() {
        let x = Tensor::from_slice(&[1.0f32, 3.0, 5.0, 7.0, 2.0, 2.0, 2.0, 2.0]).reshape([1, 2, 4]);
        let plain = statistics(&x);
        // Channel 0: mean 4, population std sqrt(5); channel 1: mean 2, std floored.
        let want = Tensor::from_slice(&[4.0f32, 2.0, 5f32.sqrt(), (VARIANCE_FLOOR as f32).sqrt()]).reshape([1, 4]);
        assert!(plain.allclose(&want, 1e-5, 1e-6, false), "{plain}");
        let uniform = Tensor::full([1, 2, 4], 0.25, (Kind::Float, Device::Cpu));
        assert!(attentive_statistics(&x, &uniform).allclose(&plain, 1e-5, 1e-5, false));
    }
}
