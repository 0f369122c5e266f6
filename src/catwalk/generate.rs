//! `emporium generate-catwalk`: SDC-shaped CSV files with the real data
//! set's proportions (per product about 2.2 features, 1.96 styles, 5.7
//! photos, 11.3 SKUs and 4.5 related products) and a few rows of each dirty
//! kind the real files have: `null` sale prices, photos with broken quoting,
//! related rows pointing at product 0 or at no product. Deterministic for a
//! seed, so tests and benchmarks agree on what they load.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::progress::Progress;

const CATEGORIES: [&str; 12] = [
    "Jackets",
    "Accessories",
    "Pants",
    "Dress Shoes",
    "Kicks",
    "Heels",
    "Tops",
    "Sweatpants",
    "Cargo",
    "Caps",
    "Socks",
    "Outerwear",
];
const ADJECTIVES: [&str; 16] = [
    "Camo", "Bright", "Morning", "Slim", "Classic", "Heir", "Pumped", "Blues", "Infinity", "Sleek",
    "Rugged", "Vintage", "Urban", "Coastal", "Alpine", "Velvet",
];
const NOUNS: [&str; 16] = [
    "Onesie",
    "Future Sunglasses",
    "Joggers",
    "Slacks",
    "Kicks",
    "Heels",
    "Tee",
    "Hoodie",
    "Overalls",
    "Cap",
    "Boots",
    "Blazer",
    "Parka",
    "Loafers",
    "Scarf",
    "Windbreaker",
];
const FEATURES: [(&str, &[&str]); 6] = [
    (
        "Fabric",
        &["Canvas", "100% Cotton", "Denim", "Silk", "Wool"],
    ),
    ("Buttons", &["Brass", "Wooden", "Plastic"]),
    ("Lenses", &["Ultrasheen", "Polarized"]),
    ("Sole", &["Rubber", "Leather", "FullControlSkin"]),
    ("Cut", &["Skinny", "Loose", "Regular"]),
    ("Green Leaf Certified", &["null", "true"]),
];
const COLOURS: [&str; 10] = [
    "Forest Green & Black",
    "Desert Brown & Tan",
    "Ocean Blue & Grey",
    "Digital Red & Black",
    "Sky Blue & White",
    "Dark Grey & Black",
    "Black",
    "White",
    "Olive",
    "Maroon",
];
const SIZES: [&str; 6] = ["XS", "S", "M", "L", "XL", "XXL"];
/// Every this many rows of a kind, one dirty row of that kind.
const DIRTY_EVERY: u64 = 5_000;

/// Counts of what was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub products: u64,
    pub features: u64,
    pub styles: u64,
    pub photos: u64,
    pub skus: u64,
    pub related: u64,
    pub dirty: u64,
}

/// A field quoted the way the SDC files quote text.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Writes the six files for `products` products into `out`.
pub fn generate(out: &Path, products: u64, seed: u64) -> anyhow::Result<Generated> {
    std::fs::create_dir_all(out)?;
    let open = |name: &str, header: &str| -> anyhow::Result<BufWriter<File>> {
        let mut writer = BufWriter::with_capacity(1 << 20, File::create(out.join(name))?);
        writeln!(writer, "{header}")?;
        Ok(writer)
    };
    let headers = super::import::FILES;
    let mut product_file = open(headers[0].0, headers[0].1)?;
    let mut feature_file = open(headers[1].0, headers[1].1)?;
    let mut style_file = open(headers[2].0, headers[2].1)?;
    let mut photo_file = open(headers[3].0, headers[3].1)?;
    let mut sku_file = open(headers[4].0, headers[4].1)?;
    let mut related_file = open(headers[5].0, headers[5].1)?;

    let mut rng = StdRng::seed_from_u64(seed);
    let mut counts = Generated::default();
    let mut progress = Progress::new("generate", products);
    for product_id in 1..=products {
        progress.row(1);
        let name = format!("{} {}", pick(&mut rng, &ADJECTIVES), pick(&mut rng, &NOUNS));
        let price = rng.random_range(5..=1000);
        writeln!(
            product_file,
            "{product_id},{},{},{},{},{price}",
            quoted(&name),
            quoted(&format!("The {name} you have been waiting for")),
            quoted(&format!(
                "So {} and so {}, the \"{name}\" goes with everything, anywhere.",
                pick(&mut rng, &["light", "warm", "sharp", "soft"]),
                pick(&mut rng, &["durable", "bold", "easy", "calm"])
            )),
            quoted(pick::<&str>(&mut rng, &CATEGORIES)),
        )?;
        counts.products += 1;

        // 1, 2 or 3 features: 20 / 40 / 40 %, about 2.2.
        let features = match rng.random_range(0..10) {
            0..=1 => 1,
            2..=5 => 2,
            _ => 3,
        };
        for _ in 0..features {
            let (feature, values) = pick(&mut rng, &FEATURES);
            counts.features += 1;
            writeln!(
                feature_file,
                "{},{product_id},{},{}",
                counts.features,
                quoted(feature),
                quoted(pick::<&str>(&mut rng, values))
            )?;
        }

        // 0, 1, 2 or 3 styles: 2 / 24 / 50 / 24 %, about 1.96.
        let styles = match rng.random_range(0..50) {
            0 => 0,
            1..=12 => 1,
            13..=37 => 2,
            _ => 3,
        };
        for index in 0..styles {
            counts.styles += 1;
            let style_id = counts.styles;
            let original = rng.random_range(5..=1000);
            // Most styles have no sale price: the files say `null`.
            let sale = if rng.random_range(0..10) < 7 {
                "null".to_owned()
            } else {
                (original * 8 / 10).to_string()
            };
            writeln!(
                style_file,
                "{style_id},{product_id},{},{sale},{original},{}",
                pick(&mut rng, &COLOURS),
                u8::from(index == 0)
            )?;
            // 1 to 5 photos, about 2.9 per style.
            let photos = *pick(&mut rng, &[1, 2, 3, 3, 4, 5, 2, 3, 4, 2]);
            for _ in 0..photos {
                counts.photos += 1;
                let photo = rng.random_range(1_000_000u32..9_999_999);
                let url = format!("https://images.unsplash.com/photo-{photo}?w=768&q=80");
                let thumbnail = format!("https://images.unsplash.com/photo-{photo}?w=300&q=80");
                if counts.photos % DIRTY_EVERY == 1 {
                    // A broken quote, as in the real photos.csv.
                    writeln!(
                        photo_file,
                        "{},{style_id},\"{url},\"{thumbnail}\"",
                        counts.photos
                    )?;
                    counts.dirty += 1;
                } else {
                    writeln!(
                        photo_file,
                        "{},{style_id},{},{}",
                        counts.photos,
                        quoted(&url),
                        quoted(&thumbnail)
                    )?;
                }
            }
            // 5 or 6 SKUs, about 5.77 per style.
            let skus = if rng.random_range(0..100) < 77 { 6 } else { 5 };
            for size in &SIZES[..skus] {
                counts.skus += 1;
                writeln!(
                    sku_file,
                    "{},{style_id},{},{}",
                    counts.skus,
                    quoted(size),
                    rng.random_range(0..=60)
                )?;
            }
        }

        // 4 or 5 related products, about 4.5; now and then 0 or an id past the end.
        let related = 4 + rng.random_range(0..2);
        for _ in 0..related {
            counts.related += 1;
            let other = if counts.related % DIRTY_EVERY == 1 {
                counts.dirty += 1;
                if counts.related % (2 * DIRTY_EVERY) == 1 {
                    0
                } else {
                    products + 1_000
                }
            } else {
                rng.random_range(1..=products)
            };
            writeln!(related_file, "{},{product_id},{other}", counts.related)?;
        }
    }
    for writer in [
        &mut product_file,
        &mut feature_file,
        &mut style_file,
        &mut photo_file,
        &mut sku_file,
        &mut related_file,
    ] {
        writer.flush()?;
    }
    progress.finish();
    Ok(counts)
}
