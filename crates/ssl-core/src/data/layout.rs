//! Memory layout of image tensors. PyTorch's channels-last format is a matter of strides:
//! a `[N, C, H, W]` tensor whose memory runs `[N, H, W, C]`. libtorch picks a
//! convolution's layout from its input's and weight's strides, so converting both is
//! enough to run the (oneDNN) channels-last kernels; tch has no memory-format argument.
use anyhow::Result;
use tch::Tensor;

/// The same values as `t` (`[N, C, H, W]`) with NHWC strides.
pub fn channels_last(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_permute([0, 2, 3, 1])?.f_contiguous()?.f_permute([0, 3, 1, 2])?)
}

/// Whether a 4-D tensor has dense NHWC strides.
pub fn is_channels_last(t: &Tensor) -> bool {
    let (size, stride) = (t.size(), t.stride());
    size.len() == 4 && stride[1] == 1 && stride[3] == size[1] && stride[2] == size[1] * size[3] && stride[0] == size[1] * size[2] * size[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn channels_last_keeps_values_and_convolutions() {
        tch::manual_seed(0);
        let x = Tensor::randn([2, 3, 5, 7], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([4, 3, 3, 3], (Kind::Float, Device::Cpu));
        let (xl, wl) = (channels_last(&x).unwrap(), channels_last(&w).unwrap());
        assert!(is_channels_last(&xl) && is_channels_last(&wl) && !is_channels_last(&x));
        assert_eq!(xl.size(), x.size());
        assert!(xl.equal(&x));
        let y = x.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        let yl = xl.conv2d(&wl, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        assert!(is_channels_last(&yl), "the convolution ran in channels-last layout: strides {:?}", yl.stride());
        assert!(y.allclose(&yl, 1e-5, 1e-5, false));
    }
}
