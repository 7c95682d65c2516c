//! The music data set's pieces: the tune catalogue, MIDI rendering with a soundfont, and
//! their failures (a generated soundfont and MIDI files stand in for the real ones).
mod support;

use ssl_audio::io::read_audio;
use ssl_audio::music::{read_tunes, write_tunes, MidiRenderer, Tune};
use std::path::PathBuf;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-audio-music-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The strongest frequency of `x` at `rate`, in Hz.
fn dominant_hz(x: &[f32], rate: u32) -> f64 {
    let t = tch::Tensor::from_slice(x);
    let spectrum = t.fft_rfft(None, -1, "backward").abs();
    spectrum.argmax(0, false).int64_value(&[]) as f64 * f64::from(rate) / x.len() as f64
}

#[test]
fn a_midi_file_renders_at_its_pitches_and_length() {
    let d = tmp("render");
    support::write_soundfont(&d.join("sine.sf2"));
    // A4 then A5: half a second each.
    support::write_midi(&d.join("two.mid"), &[69, 81]);
    let r = MidiRenderer::new(&d.join("sine.sf2"), 16000).unwrap();
    let w = r.render(&d.join("two.mid"), 30.0).unwrap();
    assert_eq!(w.sample_rate, 16000);
    // One second of notes plus a second of release.
    assert!((w.seconds() - 2.0).abs() < 0.05, "{} s", w.seconds());
    assert!((w.peak() - 0.9).abs() < 1e-4);
    let first = dominant_hz(&w.samples[1600..7200], 16000);
    let second = dominant_hz(&w.samples[9600..15200], 16000);
    assert!((first - 441.0).abs() < 10.0, "first note at {first} Hz");
    assert!((second - 882.0).abs() < 15.0, "second note at {second} Hz");
    // The length cap.
    assert!((r.render(&d.join("two.mid"), 0.5).unwrap().seconds() - 0.5).abs() < 1e-3);
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn broken_soundfonts_and_midi_files_are_errors_naming_them() {
    let d = tmp("broken");
    support::write_soundfont(&d.join("sine.sf2"));
    std::fs::write(d.join("junk.sf2"), b"RIFF\x04\x00\x00\x00junk").unwrap();
    let e = MidiRenderer::new(&d.join("junk.sf2"), 16000).err().unwrap().to_string();
    assert!(e.contains("junk.sf2") && e.contains("SF2"), "{e}");
    let e = MidiRenderer::new(&d.join("none.sf2"), 16000).err().unwrap().to_string();
    assert!(e.contains("none.sf2"), "{e}");
    let e = MidiRenderer::new(&d.join("sine.sf2"), 8000).err().unwrap().to_string();
    assert!(e.contains("8000"), "{e}");
    let r = MidiRenderer::new(&d.join("sine.sf2"), 16000).unwrap();
    support::write_midi(&d.join("empty.mid"), &[]);
    let e = r.render(&d.join("empty.mid"), 5.0).unwrap_err().to_string();
    assert!(e.contains("empty.mid") && e.contains("no notes"), "{e}");
    std::fs::write(d.join("junk.mid"), b"MThd\x00\x00").unwrap();
    let e = r.render(&d.join("junk.mid"), 5.0).unwrap_err().to_string();
    assert!(e.contains("junk.mid") && e.contains("MIDI"), "{e}");
    std::fs::remove_dir_all(d).ok();
}

fn tune(id: &str) -> Tune {
    Tune {
        id: id.into(),
        midi: format!("midi/{id}.mid"),
        title: "The Test, \"quoted\"".into(),
        meter: "6/8".into(),
        tonic: "D".into(),
        mode: "major".into(),
        rhythm: "jig".into(),
        family: "flute".into(),
        program: 73,
        caption: "The Test, a tune in 6/8, in D.".into(),
        audio: String::new(),
    }
}

#[test]
fn the_catalogue_round_trips_and_refuses_bad_rows() {
    let d = tmp("catalogue");
    let path = d.join("tunes.csv");
    let tunes = vec![tune("a"), Tune { rhythm: String::new(), ..tune("b") }];
    write_tunes(&path, &tunes).unwrap();
    assert_eq!(read_tunes(&path).unwrap(), tunes);
    write_tunes(&path, &[tune("a"), tune("a")]).unwrap();
    assert!(read_tunes(&path).unwrap_err().to_string().contains("the id a appears twice"));
    std::fs::write(&path, "id,midi,title\na,m.mid,t\n").unwrap();
    let e = format!("{:#}", read_tunes(&path).unwrap_err());
    assert!(e.contains("tunes.csv") && e.contains("row 1"), "{e}");
    std::fs::write(&path, "id,midi,title,meter,tonic,mode,rhythm,family,program,caption\n").unwrap();
    assert!(read_tunes(&path).unwrap_err().to_string().contains("no tunes"));
    assert!(read_tunes(&d.join("missing.csv")).unwrap_err().to_string().contains("missing.csv"));
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn render_music_writes_a_recording_per_tune_and_counts_or_stops_at_a_broken_one() {
    let d = tmp("cli");
    std::fs::create_dir_all(d.join("midi")).unwrap();
    support::write_soundfont(&d.join("TimGM6mb.sf2"));
    support::write_midi(&d.join("midi/a.mid"), &[60, 64, 67]);
    support::write_midi(&d.join("midi/b.mid"), &[62]);
    std::fs::write(d.join("midi/c.mid"), b"not midi").unwrap();
    write_tunes(&d.join("tunes.csv"), &[tune("a"), tune("b"), tune("c")]).unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ssl-audio"))
            .args(["render-music", "--data", d.to_str().unwrap(), "--seconds", "3"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, _, err) = run(&[]);
    assert!(!ok && err.contains("c.mid") && err.contains("tune c"), "{err}");
    assert!(!d.join("audio/music.csv").exists(), "no catalogue for a failed run");
    let (ok, out, err) = run(&["--skip-bad"]);
    assert!(ok, "{err}");
    assert!(out.contains("2 tunes") && out.contains("1 left out") && err.contains("c.mid"), "{out}\n{err}");
    let rendered = read_tunes(&d.join("audio/music.csv")).unwrap();
    assert_eq!(rendered.iter().map(|t| t.audio.as_str()).collect::<Vec<_>>(), ["a.wav", "b.wav"]);
    let vocabulary = ssl_audio::music::CaptionVocabulary::load(&d.join("audio/tokenizer.json")).unwrap();
    assert!(!vocabulary.encode(&rendered[0].caption, 16).unwrap().contains(&ssl_audio::music::vocabulary::UNK));
    let a = read_audio(&d.join("audio/a.wav")).unwrap();
    assert_eq!(a.sample_rate, 16000);
    assert!((a.seconds() - 2.5).abs() < 0.05, "{} s", a.seconds());
    std::fs::remove_dir_all(d).ok();
}

mod vocabulary {
    use ssl_audio::music::vocabulary::{CaptionVocabulary, CLS, PAD, SEP, UNK};

    fn captions() -> Vec<String> {
        let titles = ["The Supple Dancer", "The Enchanted Valley", "The Little Heathy Hill", "The Dancing Master", "Valley of the Dancers"];
        let meters = ["6/8", "cut time (2/2)", "3/4"];
        let tonics = ["G", "D", "A"];
        (0..30).map(|i| format!("{}, a tune in {}, in {}, from O'Neill's Music of Ireland.", titles[i % 5], meters[i % 3], tonics[(i / 3) % 3])).collect()
    }

    #[test]
    fn a_trained_vocabulary_encodes_seen_words_whole_and_new_ones_in_pieces() {
        let v = CaptionVocabulary::train(&captions(), 300, 1).unwrap();
        assert!(v.size() > 20 && v.size() <= 300, "{}", v.size());
        let ids = v.encode("The Supple Dancer, a tune in 6/8, in G.", 24).unwrap();
        assert_eq!(ids.len(), 24);
        assert_eq!((ids[0], *ids.iter().rfind(|&&i| i != PAD).unwrap()), (CLS, SEP));
        assert!(!ids.contains(&UNK), "{ids:?}");
        // BERT's normaliser: case does not matter.
        assert_eq!(v.encode("the supple dancer", 8).unwrap(), v.encode("THE SUPPLE DANCER", 8).unwrap());
        // A word never seen whole is spelled in pieces the vocabulary holds.
        let pieces = v.pieces("dancers valleys").unwrap();
        assert!(pieces.iter().any(|p| p.starts_with("##")), "{pieces:?}");
        assert!(!v.encode("dancers valleys", 16).unwrap().contains(&UNK));
        // Too long: cut, the [SEP] kept at the end.
        let short = v.encode(&captions()[0], 5).unwrap();
        assert_eq!((short.len(), short[0], short[4]), (5, CLS, SEP));
    }

    #[test]
    fn a_vocabulary_round_trips_and_bad_files_or_inputs_are_errors() {
        let d = super::tmp("vocab");
        let v = CaptionVocabulary::train(&captions(), 200, 1).unwrap();
        let path = d.join("tokenizer.json");
        v.save(&path).unwrap();
        let back = CaptionVocabulary::load(&path).unwrap();
        for c in captions() {
            assert_eq!(back.encode(&c, 32).unwrap(), v.encode(&c, 32).unwrap());
        }
        std::fs::write(&path, "{\"version\": \"1.0\", \"model\": 3").unwrap();
        let e = CaptionVocabulary::load(&path).err().unwrap().to_string();
        assert!(e.contains("tokenizer.json") && e.contains("not a WordPiece vocabulary"), "{e}");
        assert!(CaptionVocabulary::load(&d.join("none.json")).err().unwrap().to_string().contains("none.json"));
        assert!(CaptionVocabulary::train(&["  ".into()], 100, 1).is_err());
        assert!(CaptionVocabulary::train(&captions(), 5, 1).is_err());
        assert!(v.encode("x", 1).is_err());
        std::fs::remove_dir_all(d).ok();
    }
}
