//! What a search looks for: the categories its words name, and the close
//! spellings of its words among the words of product names (the word list
//! `search_words`, migration `search_words`), so that a typo is corrected
//! before the search document's GIN index is asked.

use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

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
/// `to_tsquery`: each word typed, or any close spelling of it when no name
/// holds it as typed (`windbraker` -> `(windbraker | windbreaker)`), all of
/// them; or, when several words were typed, the words typed together
/// (`wind break` -> `windbreak` -> `windbreaker`). `None` when no word is
/// spelled otherwise.
///
/// Every word of the answer is letters and digits only (split so here and
/// in `name_words`), so the text is never read as `tsquery` operators.
pub async fn spellings(conn: &mut AsyncPgConnection, q: &str) -> QueryResult<Option<String>> {
    let words = words_of(q);
    let together = Some(words.concat()).filter(|joined| words.len() > 1 && long_enough(joined));
    let mut typed: Vec<String> = Vec::new();
    for word in words {
        if long_enough(&word) && !typed.contains(&word) {
            typed.push(word);
        }
    }
    let asked: Vec<String> = typed.iter().chain(&together).cloned().collect();
    if asked.is_empty() {
        return Ok(None);
    }
    let found = close_spellings(conn, &asked).await?;
    if found.is_empty() {
        // Every word is spelled as some name spells it, or like none:
        // the words as typed are the whole search.
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
    let mut either = Vec::new();
    if !typed.is_empty() {
        let all_typed: Vec<String> = typed.iter().map(group).collect();
        either.push(format!("({})", all_typed.join(" & ")));
    }
    either.extend(together.iter().map(group));
    Ok(Some(either.join(" | ")))
}

/// The lower-case runs of letters and digits of `q`, as `name_words` splits
/// a name.
fn words_of(q: &str) -> Vec<String> {
    q.to_lowercase()
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
/// the closest few by trigram distance, through the word list's index.
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
    }
    let found: Vec<Close> = diesel::sql_query(
        "SELECT asked, close.word FROM unnest($1::text[]) AS asked, LATERAL ( \
             SELECT w.word FROM search_words w \
             WHERE w.word % asked \
               AND NOT EXISTS (SELECT 1 FROM search_words known WHERE known.word = asked) \
             ORDER BY w.word <-> asked LIMIT $2 \
         ) close",
    )
    .bind::<Array<Text>, _>(asked)
    .bind::<diesel::sql_types::BigInt, _>(SPELLINGS_PER_WORD)
    .load(conn)
    .await?;
    Ok(found.into_iter().map(|row| (row.asked, row.word)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_at_anything_but_letters_and_digits() {
        assert_eq!(
            words_of("Wind-Break  T-shirt's 2XL"),
            ["wind", "break", "t", "shirt", "s", "2xl"]
        );
        assert_eq!(words_of("(a | b) & !c"), ["a", "b", "c"]);
    }
}
