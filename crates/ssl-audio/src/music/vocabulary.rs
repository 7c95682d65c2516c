//! A WordPiece vocabulary of the captions (Hugging Face `tokenizers`, trained on our own
//! captions; nothing is downloaded): BERT's normaliser (lower case, accents stripped) and
//! pre-tokeniser (words and punctuation), `[CLS] caption [SEP]`, padded to a fixed length.
use anyhow::{anyhow, bail, Result};
use std::path::Path;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainerBuilder};
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, Model, TokenizerBuilder, TokenizerImpl};

type Inner = TokenizerImpl<WordPiece, BertNormalizer, BertPreTokenizer, BertProcessing, WordPieceDecoder>;

/// The special tokens, at these ids in every vocabulary trained here.
pub const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
/// Padding after the caption.
pub const PAD: i64 = 0;
/// A word piece the vocabulary does not hold.
pub const UNK: i64 = 1;
/// The first token, whose output stands for the caption.
pub const CLS: i64 = 2;
/// The end of the caption.
pub const SEP: i64 = 3;
/// A masked token of masked language modelling.
pub const MASK: i64 = 4;

/// A trained WordPiece tokenizer of captions.
pub struct CaptionVocabulary {
    inner: Inner,
}

fn builder() -> Result<Inner> {
    TokenizerBuilder::new()
        .with_model(WordPiece::default())
        .with_normalizer(Some(BertNormalizer::default()))
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(BertProcessing::new((SPECIAL[3].into(), SEP as u32), (SPECIAL[2].into(), CLS as u32))))
        .with_decoder(Some(WordPieceDecoder::default()))
        .build()
        .map_err(|e| anyhow!("building the tokenizer: {e}"))
}

impl CaptionVocabulary {
    /// Trains a vocabulary of at most `size` tokens (the special ones included) on
    /// `captions`; pieces seen fewer than `min_frequency` times are left out.
    pub fn train(captions: &[String], size: usize, min_frequency: u64) -> Result<Self> {
        if captions.iter().all(|c| c.trim().is_empty()) {
            bail!("a vocabulary needs captions with words, got {} empty ones", captions.len());
        }
        if size <= SPECIAL.len() {
            bail!("a vocabulary of {size} tokens has no room beyond the {} special ones", SPECIAL.len());
        }
        let mut trainer = WordPieceTrainerBuilder::default()
            .vocab_size(size)
            .min_frequency(min_frequency)
            .show_progress(false)
            .special_tokens(SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect())
            .build();
        let mut inner = builder()?;
        inner.train(&mut trainer, captions.iter()).map_err(|e| anyhow!("training the vocabulary: {e}"))?;
        let v = Self { inner };
        v.check_specials()?;
        Ok(v)
    }

    fn check_specials(&self) -> Result<()> {
        for (id, token) in SPECIAL.iter().enumerate() {
            if self.inner.token_to_id(token) != Some(id as u32) {
                bail!("the vocabulary has {token} at {:?}, not at {id}", self.inner.token_to_id(token));
            }
        }
        Ok(())
    }

    /// Tokens in the vocabulary.
    pub fn size(&self) -> usize {
        self.inner.get_model().get_vocab_size()
    }

    /// `[CLS] pieces [SEP]` of `caption`, cut to `length` (the `[SEP]` kept) and padded
    /// with `[PAD]` to exactly `length` ids.
    pub fn encode(&self, caption: &str, length: usize) -> Result<Vec<i64>> {
        if length < 2 {
            bail!("a caption needs room for [CLS] and [SEP], not {length} tokens");
        }
        let enc = self.inner.encode(caption, false).map_err(|e| anyhow!("tokenizing '{caption}': {e}"))?;
        let mut ids: Vec<i64> = Vec::with_capacity(length);
        ids.push(CLS);
        ids.extend(enc.get_ids().iter().take(length - 2).map(|&i| i64::from(i)));
        ids.push(SEP);
        ids.resize(length, PAD);
        Ok(ids)
    }

    /// The word pieces of `caption` as text (for inspection).
    pub fn pieces(&self, caption: &str) -> Result<Vec<String>> {
        Ok(self.inner.encode(caption, false).map_err(|e| anyhow!("tokenizing '{caption}': {e}"))?.get_tokens().to_vec())
    }

    /// Writes the tokenizer as Hugging Face's `tokenizer.json`, whole or not at all.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self.inner.to_string(true).map_err(|e| anyhow!("serialising the vocabulary: {e}"))?;
        ssl_core::config::write_atomically(path, json.as_bytes())
    }

    /// Reads a vocabulary written by [`CaptionVocabulary::save`]; anything else is an error
    /// naming the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read the vocabulary {}: {e}", path.display()))?;
        let inner: Inner = text.parse().map_err(|e| anyhow!("{}: not a WordPiece vocabulary of this toolkit: {e}", path.display()))?;
        let v = Self { inner };
        v.check_specials().map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(v)
    }
}
