//! How a document is kept in Redis: `<epoch>:<seq>|<shown>|<etag>|<body>`,
//! the clock it was loaded under, the namespaces it shows beyond its key's
//! own, its ETag, then its bytes as they are sent.

use super::document::Document;
use super::keys::Namespace;

/// An entry's header: `<epoch>:<seq>|<shown>|<etag>|`.
pub(super) struct Header<'a> {
    pub epoch: &'a str,
    pub seq: u64,
    pub shows: Vec<&'a str>,
    pub etag: &'a str,
    /// Where the body starts.
    pub body_at: usize,
}

impl<'a> Header<'a> {
    /// The header of `entry`; `None` when it is not one (an entry written
    /// by another version is a miss, not an error).
    pub fn parse(entry: &'a [u8]) -> Option<Self> {
        let mut bars = entry
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'|')
            .map(|(at, _)| at);
        let (first, second, third) = (bars.next()?, bars.next()?, bars.next()?);
        let clock = std::str::from_utf8(&entry[..first]).ok()?;
        let (epoch, seq) = clock.split_once(':')?;
        let shows = std::str::from_utf8(&entry[first + 1..second]).ok()?;
        Some(Self {
            epoch,
            seq: seq.parse().ok()?,
            shows: shows.split(',').filter(|name| !name.is_empty()).collect(),
            etag: std::str::from_utf8(&entry[second + 1..third]).ok()?,
            body_at: third + 1,
        })
    }
}

/// The entry of `document`, loaded under `epoch` and `seq`.
pub(super) fn encode(epoch: &str, seq: u64, document: &Document) -> Vec<u8> {
    let mut value = format!("{epoch}:{seq}").into_bytes();
    value.extend_from_slice(&after_clock(document));
    value
}

/// The entry of `document` after its clock, `|<shown>|<etag>|<body>`: what
/// the store script puts behind the clock it reads.
pub(super) fn after_clock(document: &Document) -> Vec<u8> {
    let shows: Vec<&str> = document.shows.iter().map(Namespace::name).collect();
    let header = format!("|{}|{}|", shows.join(","), document.etag);
    let mut value = Vec::with_capacity(header.len() + document.bytes.len());
    value.extend_from_slice(header.as_bytes());
    value.extend_from_slice(&document.bytes);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Framing;

    #[test]
    fn an_entry_reads_back_as_it_was_written() {
        let document = Document::new(br#"{"a":"x|y"}"#.to_vec().into(), Framing::Bare).showing([
            Namespace::named("product:1".into()),
            Namespace::fixed("tags"),
        ]);
        let entry = encode("00ff", 42, &document);
        let header = Header::parse(&entry).expect("a header");
        assert_eq!((header.epoch, header.seq), ("00ff", 42));
        assert_eq!(header.shows, ["product:1", "tags"]);
        assert_eq!(header.etag, document.etag);
        assert_eq!(&entry[header.body_at..], br#"{"a":"x|y"}"#);
    }

    #[test]
    fn anything_else_is_not_an_entry() {
        assert!(Header::parse(b"{\"legacy\":true}").is_none());
        assert!(Header::parse(b"e:notanumber|||{}").is_none());
    }
}
