//! The text side of the embedded engine: a `tantivy` index in memory of
//! each visible product's name, code and description, matched the way
//! PostgreSQL's `websearch_to_tsquery` over the `products.search` column
//! matches (so both engines find the same products), scored by BM25 with
//! the name weighing more, and a fuzzy pass over names for typos.
//!
//! PostgreSQL's vector holds, for every word, its English and its Russian
//! lexeme (the Russian configuration stems Latin words the English way) and
//! the product code as written; a query matches when all its words' English
//! lexemes, or all their Russian ones, are in it. Here the lexemes are
//! computed with tantivy's Snowball stemmers and stop-word lists and
//! indexed as they are.

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::directory::RamDirectory;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED,
};
use tantivy::tokenizer::{
    Language, LowerCaser, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer, TokenizerManager,
    WhitespaceTokenizer,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, Score, Searcher, SegmentReader,
    SingleSegmentIndexWriter, TantivyDocument, Term,
};

use super::super::Matching;

/// How much a word in the name (or code) counts against one in the
/// description: PostgreSQL's default weights for A and B are 1.0 and 0.4.
const NAME_BOOST: Score = 2.5;
/// The smallest budget tantivy's `IndexWriter` accepts, for patches.
const WRITER_BYTES: usize = 15_000_000;
/// What sizes the build's term table at first (a third of it); the table
/// grows when a catalogue's vocabulary needs more.
const BUILD_BYTES: usize = 3_000_000;

/// One product's text, keyed by its position in the snapshot.
pub struct Document<'a> {
    pub key: u32,
    pub name: &'a str,
    pub code: &'a str,
    pub description: &'a str,
}

/// One snapshot's view of the index: the index is shared by the snapshots
/// patched from one build, each reads the documents as they were when it
/// was made.
#[derive(Clone)]
pub struct Text {
    index: Index,
    reader: IndexReader,
    searcher: Searcher,
    fields: Fields,
    lexer: Lexer,
}

#[derive(Clone, Copy)]
struct Fields {
    /// The document's position in the snapshot.
    key: Field,
    /// Lexemes of name and code (weight A).
    named: Field,
    /// Lexemes of the description (weight B).
    described: Field,
    /// The name's words as written (lower case), for typos.
    words: Field,
}

impl Text {
    pub fn build<'a>(documents: impl Iterator<Item = Document<'a>>) -> tantivy::Result<Text> {
        let mut schema = Schema::builder();
        let indexed = |tokenizer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(tokenizer)
                    .set_index_option(IndexRecordOption::WithFreqs),
            )
        };
        let fields = Fields {
            // Indexed too: a patch deletes a product's document by its key.
            key: schema.add_u64_field("key", FAST | INDEXED),
            named: schema.add_text_field("named", indexed("lexemes")),
            described: schema.add_text_field("described", indexed("lexemes")),
            words: schema.add_text_field("words", indexed("words")),
        };
        let tokenizers = TokenizerManager::default();
        tokenizers.register(
            "lexemes",
            TextAnalyzer::from(WhitespaceTokenizer::default()),
        );
        tokenizers.register("words", words_analyzer());
        // One segment written on this thread as the documents come. An
        // `IndexWriter` (15 MB budget at least) adds an indexing thread, a
        // channel allocated for 10,000 documents up front and a merge; with
        // this (and the OpenAPI document kept as JSON) the API's start-up
        // peak fell from 60 to 44 MiB at 10,000 products. tantivy marks the
        // builder's `single_segment_index_writer` `doc(hidden)` (it is
        // public, and what its own tests build with): the search tests
        // cover it on every upgrade.
        let mut writer: SingleSegmentIndexWriter<TantivyDocument> = Index::builder()
            .schema(schema.build())
            .tokenizers(tokenizers)
            .single_segment_index_writer(RamDirectory::create(), BUILD_BYTES)?;
        let lexer = Lexer::new();
        let mut scratch = lexer.clone();
        for d in documents {
            writer.add_document(fields.document(&mut scratch, &d))?;
        }
        let index = writer.finalize()?;
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()?;
        Ok(Text {
            index,
            searcher: reader.searcher(),
            reader,
            fields,
            lexer,
        })
    }

    /// The index with the documents of `removed` keys taken out and `added`
    /// put in (a key may be in both: its document is replaced), as a new
    /// view; this one still reads the documents as they were.
    pub fn patch<'a>(
        &self,
        removed: &[u32],
        added: impl Iterator<Item = Document<'a>>,
    ) -> tantivy::Result<Text> {
        let mut writer: IndexWriter<TantivyDocument> =
            self.index.writer_with_num_threads(1, WRITER_BYTES)?;
        for key in removed {
            writer.delete_term(Term::from_field_u64(self.fields.key, u64::from(*key)));
        }
        // Added after the deletes: a delete only takes what came before it.
        let mut lexer = self.lexer.clone();
        for d in added {
            writer.add_document(self.fields.document(&mut lexer, &d))?;
        }
        writer.commit()?;
        // Each patch leaves a small segment; merged here, not left to pile
        // up until the next rebuild.
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(Text {
            searcher: self.reader.searcher(),
            ..self.clone()
        })
    }

    /// Keys and scores of the products matching `q`; `None` for web-search
    /// syntax this engine does not read the way PostgreSQL does ("phrases",
    /// `or`): PostgreSQL answers those.
    pub fn matching(
        &self,
        q: &str,
        matching: Matching,
    ) -> tantivy::Result<Option<Vec<(u32, Score)>>> {
        let query = match matching {
            Matching::Text => match self.text_query(q) {
                Some(query) => query,
                None => return Ok(None),
            },
            Matching::Fuzzy => self.fuzzy_query(q),
        };
        match query {
            Some(query) => self.searcher.search(query.as_ref(), &Keyed).map(Some),
            None => Ok(Some(Vec::new())),
        }
    }

    /// All words' English lexemes, or all their Russian ones, each in the
    /// name, code or description, and none of the `-excluded` ones. A side
    /// left without words (all stop words) matches nothing, as an empty
    /// `tsquery` does. Outer `None`: syntax left to PostgreSQL.
    #[allow(clippy::option_option)]
    fn text_query(&self, q: &str) -> Option<Option<Box<dyn Query>>> {
        if q.contains('"') || q.split_whitespace().any(|w| w.eq_ignore_ascii_case("or")) {
            return None;
        }
        let mut lexer = self.lexer.clone();
        // (excluded, the words of one whitespace-separated chunk)
        let chunks: Vec<(bool, Vec<String>)> = q
            .split_whitespace()
            .map(|chunk| match chunk.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, lexer.words(rest)),
                _ => (false, lexer.words(chunk)),
            })
            .collect();
        let mut seen: Vec<Vec<(bool, String)>> = Vec::new();
        let mut sides: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for side in [Side::English, Side::Russian] {
            let mut lexemes: Vec<(bool, String)> = Vec::new();
            for (excluded, words) in &chunks {
                for w in words {
                    if let Some(l) = lexer.lexeme(w, side) {
                        lexemes.push((*excluded, l));
                    }
                }
            }
            if lexemes.is_empty() || seen.contains(&lexemes) {
                continue;
            }
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = lexemes
                .iter()
                .map(|(excluded, l)| {
                    let occur = if *excluded {
                        Occur::MustNot
                    } else {
                        Occur::Must
                    };
                    (occur, self.anywhere(l))
                })
                .collect();
            if lexemes.iter().all(|(excluded, _)| *excluded) {
                // `-wool` alone: everything without wool.
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            seen.push(lexemes);
            sides.push((Occur::Should, Box::new(BooleanQuery::new(clauses))));
        }
        Some((!sides.is_empty()).then(|| Box::new(BooleanQuery::new(sides)) as Box<dyn Query>))
    }

    fn anywhere(&self, lexeme: &str) -> Box<dyn Query> {
        let term = |field| {
            Box::new(TermQuery::new(
                Term::from_field_text(field, lexeme),
                IndexRecordOption::WithFreqs,
            ))
        };
        Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                Box::new(BoostQuery::new(term(self.fields.named), NAME_BOOST)),
            ),
            (Occur::Should, term(self.fields.described)),
        ]))
    }

    /// Every word of `q` close to a word of the name: as written for short
    /// words, one edit away from 4 letters, two from 8 (PostgreSQL's
    /// `word_similarity` at its 0.6 threshold lets about as much through).
    fn fuzzy_query(&self, q: &str) -> Option<Box<dyn Query>> {
        let mut lexer = self.lexer.clone();
        let all: Vec<(Occur, Box<dyn Query>)> = lexer
            .words(q)
            .into_iter()
            .map(|w| {
                let term = Term::from_field_text(self.fields.words, &w);
                let query: Box<dyn Query> = match w.chars().count() {
                    0..=3 => Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                    4..=7 => Box::new(FuzzyTermQuery::new(term, 1, true)),
                    _ => Box::new(FuzzyTermQuery::new(term, 2, true)),
                };
                (Occur::Must, query)
            })
            .collect();
        (!all.is_empty()).then(|| Box::new(BooleanQuery::new(all)) as Box<dyn Query>)
    }
}

impl Fields {
    fn document(self, lexer: &mut Lexer, d: &Document<'_>) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.key, u64::from(d.key));
        let mut a = lexer.indexed(d.name);
        a.push(' ');
        a.push_str(&lexer.words(d.code).join(" "));
        doc.add_text(self.named, a);
        doc.add_text(self.described, lexer.indexed(d.description));
        doc.add_text(self.words, d.name);
        doc
    }
}

fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .build()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    English,
    Russian,
}

/// Words to lexemes the way PostgreSQL's `english` and `russian`
/// configurations make them.
#[derive(Clone)]
struct Lexer {
    words: TextAnalyzer,
    english: TextAnalyzer,
    russian: TextAnalyzer,
}

/// PostgreSQL's `english.stop` (Snowball's list, 127 words): tantivy's own
/// English list is Lucene's 33, and a word one side drops and the other
/// requires changes what a query finds ("down jacket").
const POSTGRES_ENGLISH_STOP: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

impl Lexer {
    fn new() -> Self {
        let stemmed = |language, stop: StopWordFilter| {
            TextAnalyzer::builder(WhitespaceTokenizer::default())
                .filter(stop)
                .filter(Stemmer::new(language))
                .build()
        };
        let english = StopWordFilter::remove(POSTGRES_ENGLISH_STOP.iter().map(|w| (*w).to_owned()));
        let russian = StopWordFilter::new(Language::Russian)
            .unwrap_or_else(|| StopWordFilter::remove(Vec::new()));
        Lexer {
            words: words_analyzer(),
            english: stemmed(Language::English, english),
            russian: stemmed(Language::Russian, russian),
        }
    }

    fn words(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stream = self.words.token_stream(text);
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// A lower-case word's lexeme, `None` for a stop word. Both
    /// configurations stem Latin words as English; the English one leaves
    /// other scripts as written.
    fn lexeme(&mut self, word: &str, side: Side) -> Option<String> {
        let analyzer = match (word.is_ascii(), side) {
            (true, _) => &mut self.english,
            (false, Side::English) => return Some(word.to_owned()),
            (false, Side::Russian) => &mut self.russian,
        };
        let mut stream = analyzer.token_stream(word);
        stream.advance().then(|| stream.token().text.clone())
    }

    /// Every lexeme either configuration makes of `text`, space separated.
    fn indexed(&mut self, text: &str) -> String {
        let mut out = String::new();
        for w in self.words(text) {
            for side in [Side::English, Side::Russian] {
                if let Some(l) = self.lexeme(&w, side) {
                    out.push_str(&l);
                    out.push(' ');
                }
                if w.is_ascii() {
                    break;
                }
            }
        }
        out
    }
}

/// Collects (key, score) of every match.
struct Keyed;

struct KeyedSegment {
    keys: tantivy::columnar::Column<u64>,
    hits: Vec<(u32, Score)>,
}

impl Collector for Keyed {
    type Fruit = Vec<(u32, Score)>;
    type Child = KeyedSegment;

    fn for_segment(&self, _: u32, segment: &SegmentReader) -> tantivy::Result<KeyedSegment> {
        Ok(KeyedSegment {
            keys: segment.fast_fields().u64("key")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u32, Score)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for KeyedSegment {
    type Fruit = Vec<(u32, Score)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(key) = self.keys.first(doc) {
            self.hits.push((key as u32, score));
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> Text {
        let docs = [
            ("Linen Summer Shirt", "SHIRT-1", "Cool for hot days."),
            ("Wool Winter Hoodie", "HOOD-1", "Warm; lined with linen."),
            ("Canvas Tote Bag", "BAG-1", "Прочная сумка на каждый день."),
        ];
        Text::build(
            docs.iter()
                .enumerate()
                .map(|(i, (name, code, description))| Document {
                    key: i as u32,
                    name,
                    code,
                    description,
                }),
        )
        .unwrap()
    }

    fn keys(text: &Text, q: &str, matching: Matching) -> Vec<u32> {
        let mut hits = text.matching(q, matching).unwrap().unwrap();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1));
        hits.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn words_match_stemmed_in_either_language_with_the_name_first() {
        let t = text();
        assert_eq!(keys(&t, "linen", Matching::Text), [0, 1]);
        assert_eq!(keys(&t, "day", Matching::Text), [0]);
        assert_eq!(keys(&t, "сумки", Matching::Text), [2]);
        assert_eq!(keys(&t, "linen shirt", Matching::Text), [0]);
        assert_eq!(keys(&t, "shirt-1", Matching::Text), [0]);
        // Stop words only: nothing, as PostgreSQL's empty tsquery; its list,
        // not Lucene's shorter one ("down" is a stop word there).
        assert!(keys(&t, "the and", Matching::Text).is_empty());
        assert_eq!(keys(&t, "down shirt", Matching::Text), [0]);
        // Exclusions, alone or with words.
        assert_eq!(keys(&t, "linen -shirt", Matching::Text), [1]);
        let mut without = keys(&t, "-shirt", Matching::Text);
        without.sort();
        assert_eq!(without, [1, 2]);
        // Phrases and `or` are PostgreSQL's to answer.
        for q in ["\"linen shirt\"", "linen or wool"] {
            assert!(t.matching(q, Matching::Text).unwrap().is_none(), "{q}");
        }
    }

    #[test]
    fn typos_match_names_only() {
        let t = text();
        assert_eq!(keys(&t, "linnen", Matching::Fuzzy), [0]);
        assert_eq!(keys(&t, "hodie", Matching::Fuzzy), [1]);
        assert!(keys(&t, "bg", Matching::Fuzzy).is_empty());
    }
}
