//! The values at a few JSON pointers of a document, read in one pass
//! without building the document. An answer is read for two or three
//! values (a variant, a decision id and an arm, the fields a success rule
//! requires); building the whole document as a `serde_json::Value` (a map
//! and a string per field) cost as much as the rest of the generator's work
//! on a request. Here everything off the pointers' paths is only checked
//! for syntax (serde's `IgnoredAny`), and only the values at the pointers
//! are built.
//!
//! The result is what resolving each pointer in the whole document would
//! give ([`resolve`]; the tests compare the two): the same
//! documents are refused (invalid JSON, trailing characters), a repeated
//! key counts by its last occurrence, and array indices follow RFC 6901.

use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use umpire_sim::load::api::JsonPointer;

/// The value at each of `pointers` in `body` (None where one resolves to
/// nothing), or None when `body` is not one JSON document.
pub fn pick(body: &[u8], pointers: &[JsonPointer]) -> Option<Vec<Option<Value>>> {
    let mut out = vec![None; pointers.len()];
    let active: Vec<Active> = pointers
        .iter()
        .enumerate()
        .map(|(slot, p)| Active {
            slot,
            rest: p.tokens(),
        })
        .collect();
    let mut de = serde_json::Deserializer::from_slice(body);
    Node {
        active: &active,
        out: &mut out,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    Some(out)
}

/// A pointer still being followed: its slot in the output and the tokens
/// left below the current node.
#[derive(Clone, Copy)]
struct Active<'p> {
    slot: usize,
    rest: &'p [String],
}

/// A node of the document with the pointers that pass through it.
struct Node<'a, 'p> {
    active: &'a [Active<'p>],
    out: &'a mut [Option<Value>],
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.active.is_empty() {
            IgnoredAny::deserialize(d)?;
            return Ok(());
        }
        if self.active.iter().any(|a| a.rest.is_empty()) {
            // A pointer ends here: this value is wanted whole, and any
            // pointer going deeper resolves inside it.
            let v = Value::deserialize(d)?;
            for a in self.active {
                let found = if a.rest.is_empty() {
                    Some(v.clone())
                } else {
                    resolve_tokens(a.rest, &v).cloned()
                };
                self.out[a.slot] = found;
            }
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

/// A JSON value at `p` in `v`, walking the pre-split tokens.
pub fn resolve<'v>(p: &JsonPointer, v: &'v Value) -> Option<&'v Value> {
    resolve_tokens(p.tokens(), v)
}

/// [`resolve`] for a pointer's tokens.
fn resolve_tokens<'v>(tokens: &[String], v: &'v Value) -> Option<&'v Value> {
    tokens.iter().try_fold(v, |v, token| match v {
        Value::Object(m) => m.get(token.as_str()),
        Value::Array(a) => index_of(token).and_then(|i| a.get(i)),
        _ => None,
    })
}

/// An array index as RFC 6901 writes it: digits without a leading zero
/// (`usize`'s parser alone would take `+1`).
fn index_of(token: &str) -> Option<usize> {
    if token.len() > 1 && token.starts_with('0') {
        return None;
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut below = Vec::with_capacity(self.active.len());
        while let Some(key) = map.next_key_seed(Key)? {
            below.clear();
            below.extend(
                self.active
                    .iter()
                    .filter(|a| a.rest[0] == key.as_str())
                    .map(|a| Active {
                        slot: a.slot,
                        rest: &a.rest[1..],
                    }),
            );
            if below.is_empty() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // A repeated key counts by its last occurrence, as in a parsed
            // document: forget what an earlier one gave.
            for a in &below {
                self.out[a.slot] = None;
            }
            map.next_value_seed(Node {
                active: &below,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut below = Vec::with_capacity(self.active.len());
        let mut i = 0usize;
        loop {
            below.clear();
            below.extend(
                self.active
                    .iter()
                    .filter(|a| index_of(&a.rest[0]) == Some(i))
                    .map(|a| Active {
                        slot: a.slot,
                        rest: &a.rest[1..],
                    }),
            );
            let more = if below.is_empty() {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(Node {
                    active: &below,
                    out: &mut *self.out,
                })?
                .is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    // A scalar has nothing below it: the pointers through it resolve to
    // nothing, and their slots stay empty.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key: borrowed from the document when it has no escapes.
enum KeyText<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl KeyText<'_> {
    fn as_str(&self) -> &str {
        match self {
            KeyText::Borrowed(s) => s,
            KeyText::Owned(s) => s,
        }
    }
}

struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = KeyText<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyText<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = KeyText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<KeyText<'de>, E> {
        Ok(KeyText::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<KeyText<'de>, E> {
        Ok(KeyText::Owned(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> JsonPointer {
        JsonPointer::parse(s).expect("pointer")
    }

    /// Every pointer picks what resolving it in the parsed document gives,
    /// over documents with nesting, arrays, escapes, repeated keys and
    /// scalars in the way.
    #[test]
    fn picks_what_resolving_the_parsed_document_gives() {
        let docs = [
            r#"{"variant":"b","in_experiment":true,"unit":"user-1"}"#,
            r#"{"r":{"variationId":1,"inExperiment":false},"ok":1}"#,
            r#"{"a/b":[{"~c":5},{"d":[1,2,{"e":null}]}],"0":1,"":{"":7}}"#,
            r#"{"k":1,"k":{"x":2}}"#,
            r#"{"k":{"x":2},"k":3}"#,
            r#"{"esc\"aped":"v\u00e9","x":{"y":[true,false]}}"#,
            r#"[10,[20,21],{"a":30}]"#,
            r#""just a string""#,
            "42",
            "null",
            r#"{"decision_id":"7-a","arm_index":3,"arm":"arm3"}"#,
            r#"{"n":1.5e300,"big":18446744073709551615,"neg":-1}"#,
        ];
        let pointers = [
            "/variant",
            "/in_experiment",
            "/r/variationId",
            "/r/inExperiment",
            "/ok",
            "/a~1b/0/~0c",
            "/a~1b/1/d/2/e",
            "/a~1b/1/d/2",
            "/a~1b/00",
            "/a~1b/+1",
            "/0",
            "/",
            "//",
            "/k",
            "/k/x",
            "/esc\"aped",
            "/x/y/1",
            "/x/y/2",
            "/1/0",
            "/2/a",
            "/0/0",
            "/decision_id",
            "/arm_index",
            "/n",
            "/big",
            "/neg",
            "/missing",
            "/variant/0",
        ];
        let pointers: Vec<JsonPointer> = pointers.iter().map(|s| p(s)).collect();
        for doc in docs {
            let v: Value = serde_json::from_str(doc).expect("json");
            let picked = pick(doc.as_bytes(), &pointers).expect("parses");
            for (ptr, got) in pointers.iter().zip(&picked) {
                assert_eq!(
                    got.as_ref(),
                    resolve(ptr, &v),
                    "{doc} at {:?}",
                    ptr.tokens()
                );
            }
        }
    }

    /// What `serde_json::from_slice` refuses is refused.
    #[test]
    fn refuses_what_is_not_one_json_document() {
        let ptrs = [p("/a")];
        for bad in [
            "",
            "{",
            r#"{"a":1} x"#,
            r#"{"a":1}{"#,
            "nul",
            r#"{"a":}"#,
            "[1,]",
            "\u{ff}",
        ] {
            assert!(
                serde_json::from_slice::<Value>(bad.as_bytes()).is_err(),
                "{bad}"
            );
            assert!(pick(bad.as_bytes(), &ptrs).is_none(), "{bad}");
        }
        assert_eq!(
            pick(b" {\"a\": 1} \n", &ptrs),
            Some(vec![Some(Value::from(1))])
        );
    }
}
