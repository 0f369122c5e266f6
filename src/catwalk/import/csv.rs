//! Reading SDC CSV lines one at a time (so a broken quote costs its line
//! only), checking fields, and writing rows in COPY's text format.

use bytes::{BufMut, BytesMut};

/// Splits CSV lines into fields (quotes and `""` escapes understood),
/// reusing its parser and buffers from line to line.
pub(super) struct LineSplitter {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self {
            reader: csv_core::Reader::new(),
            output: Vec::new(),
            ends: Vec::new(),
        }
    }
}

impl LineSplitter {
    /// The fields of `line`; `None` when it is not one complete record (a
    /// quote left open).
    pub(super) fn split(&mut self, line: &[u8], fields: &mut Vec<String>) -> Option<()> {
        // Quotes pair up on a well-formed line (an escaped quote is two); an
        // odd count means a field's quote was never closed.
        if line.iter().filter(|byte| **byte == b'"').count() % 2 == 1 {
            return None;
        }
        self.reader.reset();
        self.output.resize(line.len() + 1, 0);
        // (A field ends at each comma, and at the end: no more ends than
        // that, where one per byte took eight bytes a byte.)
        let commas = line.iter().filter(|byte| **byte == b',').count();
        self.ends.resize(commas + 2, 0);
        let mut input = line;
        let (mut out_at, mut ends_at) = (0, 0);
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                input,
                &mut self.output[out_at..],
                &mut self.ends[ends_at..],
            );
            input = &input[read..];
            out_at += written;
            ends_at += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty if !input.is_empty() => continue,
                csv_core::ReadRecordResult::InputEmpty => {
                    // The end of the line ends the record.
                    let (result, _, _, ended) = self.reader.read_record(
                        &[],
                        &mut self.output[out_at..],
                        &mut self.ends[ends_at..],
                    );
                    ends_at += ended;
                    if !matches!(result, csv_core::ReadRecordResult::Record) {
                        return None;
                    }
                    break;
                }
                csv_core::ReadRecordResult::Record => {
                    if !input.iter().all(|byte| *byte == b'\r' || *byte == b'\n') {
                        return None;
                    }
                    break;
                }
                csv_core::ReadRecordResult::End => break,
                csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => return None,
            }
        }
        // The fields' strings are kept from line to line: no allocation
        // once they have grown to the file's longest fields.
        fields.resize_with(ends_at, String::new);
        let mut start = 0;
        let mut quoted_after_space = None;
        for (field, end) in fields.iter_mut().zip(&self.ends[..ends_at]) {
            field.clear();
            field.push_str(&String::from_utf8_lossy(&self.output[start..*end]));
            start = *end;
            if field.starts_with(char::is_whitespace)
                && *quoted_after_space.get_or_insert_with(|| quotes_after_space(line))
            {
                unquote_after_space(field);
            }
        }
        Some(())
    }
}

/// Whether some field of the raw line opens a quote after a space
/// (`, "`): only then can a field that starts with a space be one (a field
/// quoted as CSV wants, `" ""Wear it"" "`, also starts with one once read).
fn quotes_after_space(line: &[u8]) -> bool {
    let mut starts = std::iter::once(0).chain(
        line.iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b',')
            .map(|(at, _)| at + 1),
    );
    starts.any(|start| {
        let rest = &line[start.min(line.len())..];
        let spaces = rest
            .iter()
            .take_while(|byte| **byte == b' ' || **byte == b'\t')
            .count();
        spaces > 0 && rest.get(spaces) == Some(&b'"')
    })
}

/// A field quoted after a space (`1, "Camo Onesie", 140`, as the header
/// may be written): CSV reads a quote only at a field's very start, so the
/// quotes would be kept as text. Read it as the quoted field it is.
fn unquote_after_space(field: &mut String) {
    let trimmed = field.trim();
    if trimmed.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"') {
        *field = trimmed[1..trimmed.len() - 1].replace("\"\"", "\"");
    }
}

/// Appends one value in COPY's text format (`\N` for NULL).
fn copy_value(buffer: &mut BytesMut, value: Option<&str>) {
    match value {
        None => buffer.put_slice(b"\\N"),
        Some(text)
            if !text
                .bytes()
                .any(|byte| matches!(byte, b'\\' | b'\t' | b'\n' | b'\r')) =>
        {
            buffer.put_slice(text.as_bytes());
        }
        Some(text) => {
            for byte in text.bytes() {
                match byte {
                    b'\\' => buffer.put_slice(b"\\\\"),
                    b'\t' => buffer.put_slice(b"\\t"),
                    b'\n' => buffer.put_slice(b"\\n"),
                    b'\r' => buffer.put_slice(b"\\r"),
                    other => buffer.put_u8(other),
                }
            }
        }
    }
}

pub(super) fn copy_row(buffer: &mut BytesMut, values: &[Option<&str>]) {
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            buffer.put_u8(b'\t');
        }
        copy_value(buffer, *value);
    }
    buffer.put_u8(b'\n');
}

pub(super) fn parse_id(field: &str, name: &str) -> Result<i32, String> {
    match field.trim().parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("{name} {field:?} is not a positive integer")),
    }
}

/// A price as SDC writes it (`140`, `99.99`); `null` (any case) is none.
pub(super) fn parse_price(field: &str, name: &str) -> Result<Option<String>, String> {
    let field = field.trim();
    if field.is_empty() || field.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    // Exactly as written: `FromStr` would round past 28 places.
    let amount = rust_decimal::Decimal::from_str_exact(field)
        .map_err(|_| format!("{name} {field:?} is not a number"))?;
    crate::domain::Money::parse(amount)
        .map(|money| Some(money.to_string()))
        .map_err(|message| format!("{name} {field:?} {message}"))
}

pub(super) fn nullable(field: &str) -> Option<&str> {
    (!field.eq_ignore_ascii_case("null")).then_some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Option<Vec<String>> {
        let mut fields = Vec::new();
        LineSplitter::default()
            .split(line.as_bytes(), &mut fields)
            .map(|()| fields)
    }

    #[test]
    fn lines_split_with_quotes_and_escapes() {
        assert_eq!(
            fields("1,\"a, b\",\"say \"\"hi\"\"\",3\n").unwrap(),
            ["1", "a, b", "say \"hi\"", "3"]
        );
        assert_eq!(fields("1,,null\r\n").unwrap(), ["1", "", "null"]);
    }

    #[test]
    fn a_quote_left_open_rejects_only_its_line() {
        assert!(fields("7,3,\"https://x.example/a.jpg,\"https://x.example/b.jpg\"\n").is_none());
        assert!(fields("7,3,\"https://x.example/a.jpg\n").is_none());
    }

    #[test]
    fn copy_text_escapes_its_separators() {
        let mut buffer = BytesMut::new();
        copy_row(&mut buffer, &[Some("a\tb\\c\nd"), None]);
        assert_eq!(&buffer[..], b"a\\tb\\\\c\\nd\t\\N\n");
    }

    #[test]
    fn prices_read_like_the_sdc_files_write_them() {
        assert_eq!(parse_price("140", "p").unwrap().as_deref(), Some("140.00"));
        assert_eq!(parse_price("null", "p").unwrap(), None);
        assert!(parse_price("-1", "p").is_err());
        assert!(parse_price("abc", "p").is_err());
        assert!(parse_price("14.999999999999999999999999999999", "p").is_err());
    }

    #[test]
    fn a_field_quoted_after_a_space_is_read_as_quoted() {
        let mut fields = Vec::new();
        LineSplitter::default()
            .split(br#"1, "Camo Onesie", "a ""b""",  "", 140"#, &mut fields)
            .unwrap();
        assert_eq!(fields, ["1", "Camo Onesie", "a \"b\"", "", " 140"]);
        // Quoted as CSV wants, a field that starts with a space keeps it all.
        LineSplitter::default()
            .split(br#"5,"Tee"," ""Wear it"" ",d"#, &mut fields)
            .unwrap();
        assert_eq!(fields, ["5", "Tee", " \"Wear it\" ", "d"]);
    }
}
