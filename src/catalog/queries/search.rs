//! What a search looks for: the categories its words name, and the close
//! spellings of its words among the words of product names (the word list
//! `search_words`, migration `search_words`), so that a typo is corrected
//! before the search document's GIN index is asked.

use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::domain::text::lower_as_postgres;

/// At most this many close spellings are tried for each word.
const SPELLINGS_PER_WORD: i64 = 3;

/// The categories whose names the search `q` matches (english stems).
pub async fn categories_matching(conn: &mut AsyncPgConnection, q: &str) -> QueryResult<Vec<i32>> {
    #[derive(QueryableByName)]
    struct Matched {
        #[diesel(sql_type = Int4)]
        id: i32,
    }
    let matched: Vec<Matched> = diesel::sql_query(
        "SELECT id FROM categories \
         WHERE to_tsvector('english', category_name) @@ websearch_to_tsquery('english', $1)",
    )
    .bind::<Text, _>(q)
    .load(conn)
    .await?;
    Ok(matched.into_iter().map(|row| row.id).collect())
}

/// The words of a search as names spell them, as the text of a
/// `to_tsquery`: every word typed, each one or any close spelling of it
/// when no product's document holds it as typed (`windbraker` ->
/// `(windbraker | windbreaker)`) or a name word it begins (`wind` ->
/// `(wind | windbreaker)`); or, when several words were typed, the
/// words typed together (`wind break` -> `windbreak`, and its close
/// spellings). `None` when that adds nothing to the words as typed, and
/// when the search uses `websearch_to_tsquery`'s syntax (a quoted phrase,
/// `-word`, `or`), whose meaning a respelling would lose.
///
/// Every word of the answer is letters and digits only (split so here and
/// in `name_words`), so the text is never read as `tsquery` operators.
pub async fn spellings(conn: &mut AsyncPgConnection, q: &str) -> QueryResult<Option<String>> {
    if uses_search_syntax(q) {
        return Ok(None);
    }
    let words = words_of(q);
    let together = Some(words.concat()).filter(|joined| words.len() > 1 && long_enough(joined));
    let mut typed: Vec<String> = Vec::new();
    for word in words {
        if !typed.contains(&word) {
            typed.push(word);
        }
    }
    // Words too short for trigrams are kept as typed, never respelled.
    let asked: Vec<String> = typed
        .iter()
        .filter(|word| long_enough(word))
        .chain(&together)
        .cloned()
        .collect();
    if asked.is_empty() {
        return Ok(None);
    }
    let found = close_spellings(conn, &asked).await?;
    if found.is_empty() && together.is_none() {
        // Every word is known as typed, or like no name's: the words as
        // typed are the whole search.
        return Ok(None);
    }
    let group = |word: &String| {
        let mut alternatives = vec![word.as_str()];
        alternatives.extend(
            found
                .iter()
                .filter(|(asked, _)| asked == word)
                .map(|(_, close)| close.as_str()),
        );
        format!("({})", alternatives.join(" | "))
    };
    let all_typed: Vec<String> = typed.iter().map(group).collect();
    let mut either = vec![format!("({})", all_typed.join(" & "))];
    either.extend(together.iter().map(group));
    Ok(Some(either.join(" | ")))
}

/// Whether `q` says more than words: a quoted phrase, an excluded `-word`
/// or an `or` between words (`websearch_to_tsquery`'s syntax).
fn uses_search_syntax(q: &str) -> bool {
    q.contains('"')
        || q.split_whitespace()
            .any(|word| word.starts_with('-') || word.eq_ignore_ascii_case("or"))
}

/// The lower-case runs of letters and digits of `q`, as `name_words` splits
/// a name.
fn words_of(q: &str) -> Vec<String> {
    lower_as_postgres(q)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The word list keeps words of three characters or more.
fn long_enough(word: &str) -> bool {
    word.chars().count() >= 3
}

/// (asked, close spelling) for each asked word that no name holds as typed:
/// the closest few by trigram distance, through the word list's index,
/// when no product's document holds the word either (a word of a
/// description is no typo); and the few shortest name words it begins
/// (`wind` -> `windbreaker`, as a shopper typing a name expects). Asked
/// words are letters and digits only, so none holds a `LIKE` wildcard.
async fn close_spellings(
    conn: &mut AsyncPgConnection,
    asked: &[String],
) -> QueryResult<Vec<(String, String)>> {
    #[derive(QueryableByName)]
    struct Close {
        #[diesel(sql_type = Text)]
        asked: String,
        #[diesel(sql_type = Text)]
        word: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        respelled: bool,
    }
    let found: Vec<Close> = diesel::sql_query(
        "SELECT asked, close.word, true AS respelled FROM unnest($1::text[]) AS asked \
         CROSS JOIN LATERAL ( \
             SELECT w.word FROM search_words w WHERE w.word % asked \
             ORDER BY w.word <-> asked LIMIT $2 \
         ) close \
         WHERE NOT EXISTS (SELECT 1 FROM search_words known WHERE known.word = asked) \
         UNION \
         SELECT asked, longer.word, false FROM unnest($1::text[]) AS asked \
         CROSS JOIN LATERAL ( \
             SELECT w.word FROM search_words w \
             WHERE w.word LIKE asked || '%' AND w.word <> asked \
             ORDER BY length(w.word), w.word LIMIT $2 \
         ) longer \
         WHERE NOT EXISTS (SELECT 1 FROM search_words known WHERE known.word = asked)",
    )
    .bind::<Array<Text>, _>(asked)
    .bind::<diesel::sql_types::BigInt, _>(SPELLINGS_PER_WORD)
    .load(conn)
    .await?;
    // A word some document holds is no typo: its respellings go. Asked
    // one word at a time, so that PostgreSQL plans each probe with the
    // word itself (the GIN index), not as a parameter of a join (a
    // sequential scan of every product: 2.5 s at a million).
    let mut typos: Vec<&String> = found
        .iter()
        .filter(|row| row.respelled)
        .map(|row| &row.asked)
        .collect();
    typos.dedup();
    let mut held = Vec::new();
    for word in typos {
        if in_some_document(conn, word).await? {
            held.push(word.clone());
        }
    }
    Ok(found
        .into_iter()
        .filter(|row| !(row.respelled && held.contains(&row.asked)))
        .map(|row| (row.asked, row.word))
        .collect())
}

/// Whether any product's search document, or any category's name, holds
/// `word`. Through the GIN
/// index alone: asked as `EXISTS`, PostgreSQL expects a match early in a
/// sequential scan, and a word that no document holds (a typo, the usual
/// case here) would read every product (0.5 s at a million); the bitmap of
/// the index answers in under a millisecond.
async fn in_some_document(conn: &mut AsyncPgConnection, word: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Held {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        held: bool,
    }
    let word = word.to_owned();
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        diesel::sql_query("SET LOCAL enable_seqscan = off")
            .execute(conn)
            .await?;
        // A category's name is searched too (API.md): `shoes` is no typo
        // of `shorts` where a category is called Shoes.
        let answer: Held = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM products p \
             WHERE p.search_document @@ plainto_tsquery('english', $1)) \
             OR EXISTS (SELECT 1 FROM categories c \
             WHERE to_tsvector('english', c.category_name) @@ plainto_tsquery('english', $1)) \
             AS held",
        )
        .bind::<Text, _>(&word)
        .get_result(conn)
        .await?;
        Ok(answer.held)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_that_uses_websearch_syntax_is_not_respelled() {
        for q in [
            "\"red shirt\"",
            "shrt -red",
            "shrt or jackt",
            "shrt OR jackt",
        ] {
            assert!(uses_search_syntax(q), "{q}");
        }
        for q in ["red shirt", "t-shirt", "organic", "oregano shirt"] {
            assert!(!uses_search_syntax(q), "{q}");
        }
    }

    #[test]
    fn words_are_split_at_anything_but_letters_and_digits() {
        assert_eq!(
            words_of("Wind-Break  T-shirt's 2XL"),
            ["wind", "break", "t", "shirt", "s", "2xl"]
        );
        assert_eq!(words_of("(a | b) & !c"), ["a", "b", "c"]);
    }
}
