//! The one rule by which every random stream of a run is derived from its seed.
//!
//! A stream is named by a list of integers (the run seed, a tag for what the stream is
//! for, the step or batch index, ...); `mix` turns the list into a seed. Streams named by
//! different lists are independent, and each is a pure function of its name, so a resumed
//! run draws exactly what the uninterrupted run would have drawn.

/// Folds `parts` into one 64-bit seed (SplitMix64's finaliser after each part).
pub fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3u64, |acc, &p| {
        let mut z = acc ^ p.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(acc << 6);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// Tags that keep the streams of one run apart.
pub mod tag {
    /// The torch generator seeded at the start of each optimiser step.
    pub const STEP: u64 = 0x5743_5445;
    /// A method's own draws within a micro-batch.
    pub const MICRO: u64 = 0x4D49_4352;
    /// The shuffled order of the samples in an epoch.
    pub const EPOCH: u64 = 0xE90C;
    /// A linear probe's split of the training features into fit and validation parts.
    pub const PROBE_SPLIT: u64 = 0x11E4;
    /// A linear probe's initialisation and batch order.
    pub const PROBE_TRAIN: u64 = 0x11EA;
    /// Which local views are outliers, and from which image (the loader's outlier views).
    pub const OUTLIER_VIEW: u64 = 0x0071_13E5;
}

/// A ChaCha generator for the stream named by `parts`.
pub fn rng(parts: &[u64]) -> rand_chacha::ChaCha8Rng {
    rand::SeedableRng::seed_from_u64(mix(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_part_and_repeat_exactly() {
        assert_eq!(mix(&[1, 2, 3]), mix(&[1, 2, 3]));
        let seeds = [mix(&[1, 2, 3]), mix(&[1, 2, 4]), mix(&[1, 3, 3]), mix(&[2, 2, 3]), mix(&[1, 2]), mix(&[3, 2, 1])];
        for (i, a) in seeds.iter().enumerate() {
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
