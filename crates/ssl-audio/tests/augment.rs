//! The augmentations do what they say, and a seed fixes them.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ssl_audio::augment::{add_at_snr, reverberate, snr_db, spec_augment, Room, RoomConfig, SpecAugmentConfig};
use ssl_audio::io::read_audio;
use std::path::Path;
use tch::{Kind, Tensor};

fn speech() -> Vec<f32> {
    read_audio(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/en_allison_seven.wav")).unwrap().samples
}

#[test]
fn noise_is_added_at_the_requested_snr() {
    let signal = speech();
    let noise = read_audio(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/it_carlo_sette.wav")).unwrap().samples;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for snr in [-5.0, 0.0, 10.0, 20.0] {
        let mixed = add_at_snr(&signal, &noise, snr, &mut rng).unwrap();
        let added: Vec<f32> = mixed.iter().zip(&signal).map(|(m, s)| m - s).collect();
        let measured = snr_db(&signal, &added);
        assert!((measured - snr).abs() < 0.01, "asked {snr} dB, got {measured}");
    }
    // Noise longer than the signal is cut at a seeded offset.
    let long: Vec<f32> = noise.iter().chain(&noise).chain(&noise).copied().collect();
    let a = add_at_snr(&noise, &long, 5.0, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let b = add_at_snr(&noise, &long, 5.0, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    assert_eq!(a, b);
    assert!(add_at_snr(&signal, &[0.0; 10], 0.0, &mut rng).unwrap_err().to_string().contains("noise is silent"));
}

#[test]
fn spec_augment_masks_whole_bands_and_spans_with_the_mean() {
    let feats = Tensor::randn([200, 80], (Kind::Float, tch::Device::Cpu)) + 3.0;
    let mean = feats.mean(Kind::Float).double_value(&[]);
    let cfg = SpecAugmentConfig::default();
    let out = spec_augment(&feats, &cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    let changed = out.ne_tensor(&feats);
    let masked_values = out.masked_select(&changed);
    assert!(masked_values.numel() > 0);
    assert!((masked_values - mean).abs().max().double_value(&[]) < 1e-5);
    // A masked channel is masked in every frame unless only time masks touch it: the
    // masked set is a union of full columns and full rows.
    let cols = changed.all_dim(0, false);
    let rows = changed.all_dim(1, false);
    let union = cols.unsqueeze(0).logical_or(&rows.unsqueeze(1));
    assert!(union.eq_tensor(&changed).all().int64_value(&[]) == 1);
    assert!(i64::try_from(cols.sum(Kind::Int64)).unwrap() <= 2 * 27);
    assert!(i64::try_from(rows.sum(Kind::Int64)).unwrap() <= 2 * 100);
    let again = spec_augment(&feats, &cfg, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    assert!(again.equal(&out));
    assert!(spec_augment(&feats.unsqueeze(0), &cfg, &mut ChaCha8Rng::seed_from_u64(3)).is_err());
}

/// RT60 from Schroeder's backward-integrated energy decay: the -5 to -25 dB slope, extrapolated.
fn measured_rt60(h: &[f32], rate: f64) -> f64 {
    let mut edc: Vec<f64> = h
        .iter()
        .rev()
        .scan(0.0, |acc, &v| {
            *acc += f64::from(v) * f64::from(v);
            Some(*acc)
        })
        .collect();
    edc.reverse();
    let db: Vec<f64> = edc.iter().map(|e| 10.0 * (e / edc[0]).log10()).collect();
    let at = |level: f64| db.iter().position(|&d| d <= level).unwrap() as f64 / rate;
    3.0 * (at(-25.0) - at(-5.0))
}

#[test]
fn simulated_rooms_decay_with_their_rt60_and_keep_the_direct_path() {
    let cfg = RoomConfig::default();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..5 {
        let room = Room::random(&cfg, &mut rng).unwrap();
        let h = room.impulse_response(16000, &cfg, &mut rng);
        assert_eq!(h[0], 1.0);
        assert_eq!(h.len(), (room.rt60 * 16000.0) as usize);
        let rt = measured_rt60(&h, 16000.0);
        assert!((rt - room.rt60).abs() < 0.2 * room.rt60, "room {:?}: asked RT60 {:.3} s, measured {rt:.3} s", room.size, room.rt60);
    }
}

#[test]
fn reverberating_an_impulse_gives_the_room_response_and_speech_keeps_its_length() {
    let cfg = RoomConfig::default();
    let room = Room::random(&cfg, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    let mut impulse = vec![0.0f32; 20000];
    impulse[0] = 1.0;
    let y = reverberate(&impulse, 16000, &room, &cfg, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    let h = room.impulse_response(16000, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
    let n = h.len().min(y.len());
    let gap = y[..n].iter().zip(&h[..n]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(gap < 1e-5, "impulse response differs by {gap}");
    let s = speech();
    let wet = reverberate(&s, 8000, &room, &cfg, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    assert_eq!(wet.len(), s.len());
    assert!(wet.iter().zip(&s).any(|(a, b)| (a - b).abs() > 1e-3));
    assert!(reverberate(&[], 8000, &room, &cfg, &mut ChaCha8Rng::seed_from_u64(9)).is_err());
}
