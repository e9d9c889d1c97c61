//! Search and browse: full text (stemmed, names above descriptions, typos
//! tolerated in names), every filter, every sort, facets and pagination.
//! Expectations come from a model of the catalogue the test arranged, never
//! from the API itself.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::{
    fixtures::{customer, expect, send, vendor},
    harness::{assert_problem, error_fields, Builder, TestApp},
};

// Categories and stores by their place in the model.
const CLOTHING: usize = 0;
const TEES: usize = 1;
const HOODIES: usize = 2;
const HOME: usize = 3;

const NORTH: usize = 0;
const SOUTH: usize = 1;

struct Category {
    id: String,
    slug: String,
    name: &'static str,
    parent: Option<usize>,
}

struct Store {
    id: String,
    slug: String,
    /// The owner's access token.
    vendor: String,
}

struct Variant {
    id: String,
    size: Option<&'static str>,
    color: Option<&'static str>,
    price: i64,
    stock: i64,
    active: bool,
}

impl Variant {
    fn attribute(&self, code: &str) -> Option<&'static str> {
        match code {
            "size" => self.size,
            "color" => self.color,
            _ => None,
        }
    }
}

struct Product {
    id: String,
    name: &'static str,
    category: usize,
    store: usize,
    material: Option<&'static str>,
    active: bool,
    variants: Vec<Variant>,
    ratings: Vec<i64>,
}

impl Product {
    fn attribute(&self, code: &str) -> Option<&'static str> {
        match code {
            "material" => self.material,
            _ => None,
        }
    }

    fn live_variants(&self) -> impl Iterator<Item = &Variant> {
        self.variants.iter().filter(|v| v.active)
    }

    fn min_price(&self) -> Option<i64> {
        self.live_variants().map(|v| v.price).min()
    }

    fn max_price(&self) -> Option<i64> {
        self.live_variants().map(|v| v.price).max()
    }

    fn in_stock(&self) -> bool {
        self.live_variants().any(|v| v.stock > 0)
    }

    /// (sum, count) of the ratings.
    fn rating(&self) -> (i64, i64) {
        (self.ratings.iter().sum(), self.ratings.len() as i64)
    }
}

/// What a search asks for, besides the text.
#[derive(Default)]
struct Filter {
    category: Option<usize>,
    store: Option<usize>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: bool,
    /// Code -> accepted values; one entry per code.
    attributes: Vec<(&'static str, Vec<&'static str>)>,
}

fn all() -> Filter {
    Filter::default()
}

impl Filter {
    fn category(mut self, category: usize) -> Self {
        self.category = Some(category);
        self
    }

    fn store(mut self, store: usize) -> Self {
        self.store = Some(store);
        self
    }

    fn min_price(mut self, amount: i64) -> Self {
        self.min_price = Some(amount);
        self
    }

    fn max_price(mut self, amount: i64) -> Self {
        self.max_price = Some(amount);
        self
    }

    fn in_stock(mut self) -> Self {
        self.in_stock = true;
        self
    }

    fn attr(mut self, code: &'static str, values: &[&'static str]) -> Self {
        self.attributes.push((code, values.to_vec()));
        self
    }
}

/// Each `sort` parameter a listing takes (relevance aside) and its order.
const EVERY_SORT: [(&str, Sort); 4] = [
    ("price", Sort::Price),
    ("-price", Sort::PriceDesc),
    ("newest", Sort::Newest),
    ("rating", Sort::Rating),
];

#[derive(Clone, Copy)]
enum Sort {
    Price,
    PriceDesc,
    Newest,
    Rating,
}

/// Facets in a comparable form.
#[derive(Debug, PartialEq)]
struct Facets {
    /// (id, slug, name, count), most first, then by name.
    categories: Vec<(String, String, String, i64)>,
    /// Code -> value -> products.
    attributes: BTreeMap<String, BTreeMap<String, i64>>,
    /// (min, max) in KZT minor units.
    price: Option<(i64, i64)>,
}

struct Model {
    type_id: String,
    categories: Vec<Category>,
    stores: Vec<Store>,
    /// In creation order.
    products: Vec<Product>,
}

impl Model {
    /// The category and everything below it.
    fn below(&self, category: usize) -> BTreeSet<usize> {
        let mut set = BTreeSet::from([category]);
        loop {
            let before = set.len();
            for (i, c) in self.categories.iter().enumerate() {
                if c.parent.is_some_and(|p| set.contains(&p)) {
                    set.insert(i);
                }
            }
            if set.len() == before {
                return set;
            }
        }
    }

    /// Price, stock and variant attributes must hold on one active variant;
    /// an attribute may also be the product's own.
    fn matches(&self, p: &Product, f: &Filter) -> bool {
        if !p.active {
            return false;
        }
        if f.category
            .is_some_and(|c| !self.below(c).contains(&p.category))
        {
            return false;
        }
        if f.store.is_some_and(|s| s != p.store) {
            return false;
        }
        let needs_variant = f.min_price.is_some()
            || f.max_price.is_some()
            || f.in_stock
            || !f.attributes.is_empty();
        !needs_variant
            || p.live_variants().any(|v| {
                f.min_price.is_none_or(|min| v.price >= min)
                    && f.max_price.is_none_or(|max| v.price <= max)
                    && (!f.in_stock || v.stock > 0)
                    && f.attributes.iter().all(|(code, values)| {
                        [v.attribute(code), p.attribute(code)]
                            .iter()
                            .flatten()
                            .any(|value| values.contains(value))
                    })
            })
    }

    /// The products a search with `f` must find, in creation order.
    fn result(&self, f: &Filter) -> Vec<&Product> {
        self.products
            .iter()
            .filter(|p| self.matches(p, f))
            .collect()
    }

    /// The names a search with `f` must list, in `sort` order.
    fn sorted(&self, f: &Filter, sort: Sort) -> Vec<&'static str> {
        let mut result = self.result(f);
        match sort {
            // created_at DESC, id DESC
            Sort::Newest => result.reverse(),
            // min_price ASC|DESC NULLS LAST, id
            Sort::Price => result.sort_by(|a, b| {
                nulls_last(a.min_price(), b.min_price(), false).then_with(|| a.id.cmp(&b.id))
            }),
            Sort::PriceDesc => result.sort_by(|a, b| {
                nulls_last(a.min_price(), b.min_price(), true).then_with(|| a.id.cmp(&b.id))
            }),
            // mean DESC NULLS LAST, count DESC, id
            Sort::Rating => result.sort_by(|a, b| by_rating(a, b).then_with(|| a.id.cmp(&b.id))),
        }
        result.iter().map(|p| p.name).collect()
    }

    fn facets(&self, f: &Filter) -> Facets {
        let result = self.result(f);
        let mut per_category: BTreeMap<usize, i64> = BTreeMap::new();
        let mut attributes: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for p in &result {
            *per_category.entry(p.category).or_default() += 1;
            // The (code, value) pairs this product has, each once.
            let mut values: BTreeSet<(&str, &str)> = BTreeSet::new();
            if let Some(material) = p.material {
                values.insert(("material", material));
            }
            for v in p.live_variants() {
                if let Some(size) = v.size {
                    values.insert(("size", size));
                }
                if let Some(color) = v.color {
                    values.insert(("color", color));
                }
            }
            for (code, value) in values {
                *attributes
                    .entry(code.to_owned())
                    .or_default()
                    .entry(value.to_owned())
                    .or_default() += 1;
            }
        }
        let mut categories: Vec<(String, String, String, i64)> = per_category
            .into_iter()
            .map(|(c, n)| {
                let c = &self.categories[c];
                (c.id.clone(), c.slug.clone(), c.name.to_owned(), n)
            })
            .collect();
        categories.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.2.cmp(&b.2)));
        let min = result.iter().filter_map(|p| p.min_price()).min();
        let max = result.iter().filter_map(|p| p.max_price()).max();
        Facets {
            categories,
            attributes,
            price: min.zip(max),
        }
    }

    fn name_of(&self, id: &str) -> &'static str {
        self.products
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("a product the test did not make: {id}"))
            .name
    }

    fn vendor_of(&self, p: usize) -> String {
        self.stores[self.products[p].store].vendor.clone()
    }

    // Arrangement through the API, keeping the model in step.

    async fn add(&mut self, app: &TestApp, spec: Spec) -> usize {
        let store = &self.stores[spec.store];
        let attributes = match spec.material {
            Some(material) => json!({ "material": material }),
            None => json!({}),
        };
        let body = expect(
            app,
            "POST",
            "/api/v1/products",
            Some(&store.vendor),
            Some(json!({
                "store_id": store.id,
                "category_id": self.categories[spec.category].id,
                "product_type_id": self.type_id,
                "name": spec.name,
                "code": spec.code,
                "description": spec.description,
                "attributes": attributes,
            })),
            201,
        )
        .await;
        self.products.push(Product {
            id: id_of(&body),
            name: spec.name,
            category: spec.category,
            store: spec.store,
            material: spec.material,
            active: true,
            variants: Vec::new(),
            ratings: Vec::new(),
        });
        self.products.len() - 1
    }

    /// Generates `sizes` x `colors` (no size at all when `sizes` is empty),
    /// all at `price` with `stock`.
    async fn generate(
        &mut self,
        app: &TestApp,
        p: usize,
        sizes: &[&'static str],
        colors: &[&'static str],
        price: i64,
        stock: i64,
    ) {
        let mut request = json!({ "color": colors, "price": kzt(price), "stock": stock });
        if !sizes.is_empty() {
            request["size"] = json!(sizes);
        }
        let product = expect(
            app,
            "POST",
            &format!("/api/v1/products/{}/variants/generate", self.products[p].id),
            Some(&self.vendor_of(p)),
            Some(request),
            201,
        )
        .await;
        let known: BTreeSet<String> = self.products[p]
            .variants
            .iter()
            .map(|v| v.id.clone())
            .collect();
        let mut added = 0;
        for v in product["variants"].as_array().unwrap() {
            let id = v["id"].as_str().unwrap();
            if known.contains(id) {
                continue;
            }
            let size = sizes
                .iter()
                .copied()
                .find(|s| v["attributes"]["size"] == *s);
            let color = colors
                .iter()
                .copied()
                .find(|c| v["attributes"]["color"] == *c);
            assert_eq!(size.is_some(), !sizes.is_empty(), "{v}");
            assert!(color.is_some(), "{v}");
            assert_eq!(v["price"]["amount"], price, "{v}");
            assert_eq!(v["active"], true, "{v}");
            self.products[p].variants.push(Variant {
                id: id.to_owned(),
                size,
                color,
                price,
                stock,
                active: true,
            });
            added += 1;
        }
        assert_eq!(added, sizes.len().max(1) * colors.len(), "new variants");
    }

    /// Patches one variant (`price`, `stock`, `active`) in the API and the model.
    async fn patch_variant(
        &mut self,
        app: &TestApp,
        p: usize,
        size: Option<&str>,
        color: &str,
        patch: Value,
    ) {
        let token = self.vendor_of(p);
        let variant = self.products[p]
            .variants
            .iter_mut()
            .find(|v| v.size == size && v.color == Some(color))
            .unwrap();
        expect(
            app,
            "PATCH",
            &format!("/api/v1/variants/{}", variant.id),
            Some(&token),
            Some(patch.clone()),
            200,
        )
        .await;
        if let Some(price) = patch["price"]["amount"].as_i64() {
            variant.price = price;
        }
        if let Some(stock) = patch["stock"].as_i64() {
            variant.stock = stock;
        }
        if let Some(active) = patch["active"].as_bool() {
            variant.active = active;
        }
    }

    async fn deactivate(&mut self, app: &TestApp, p: usize) {
        let body = expect(
            app,
            "PATCH",
            &format!("/api/v1/products/{}", self.products[p].id),
            Some(&self.vendor_of(p)),
            Some(json!({ "active": false })),
            200,
        )
        .await;
        assert_eq!(body["active"], false);
        self.products[p].active = false;
    }

    async fn review(&mut self, app: &TestApp, p: usize, customer: &str, rating: i64) {
        expect(
            app,
            "POST",
            &format!("/api/v1/products/{}/reviews", self.products[p].id),
            Some(customer),
            Some(json!({ "rating": rating })),
            201,
        )
        .await;
        self.products[p].ratings.push(rating);
    }
}

struct Spec {
    name: &'static str,
    code: &'static str,
    description: &'static str,
    category: usize,
    store: usize,
    material: Option<&'static str>,
}

/// `a` against `b` as PostgreSQL orders `ASC|DESC NULLS LAST`.
fn nulls_last(a: Option<i64>, b: Option<i64>, descending: bool) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Highest mean first (exact fractions), unrated last; then more reviews first.
fn by_rating(a: &Product, b: &Product) -> Ordering {
    let ((sa, ca), (sb, cb)) = (a.rating(), b.rating());
    let mean = match (ca, cb) {
        (0, 0) => Ordering::Equal,
        (_, 0) => Ordering::Less,
        (0, _) => Ordering::Greater,
        // sa/ca against sb/cb, descending.
        _ => (sb * ca).cmp(&(sa * cb)),
    };
    mean.then(cb.cmp(&ca))
}

fn kzt(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "KZT" })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

fn id_of(v: &Value) -> String {
    text(&v["id"])
}

/// A text query parameter.
fn q(words: &str) -> String {
    format!("q={}", utf8_percent_encode(words, NON_ALPHANUMERIC))
}

fn unordered(mut names: Vec<&'static str>) -> Vec<&'static str> {
    names.sort_unstable();
    names
}

/// The catalogue every test searches:
///
/// - Clothing > Tees, Clothing > Hoodies, Home; stores North and South;
/// - the Apparel type: size and color per variant, material per product;
/// - eight products on sale (one without variants, one sold out), and an
///   inactive one that would match nearly every search if it leaked.
async fn arrange(app: &TestApp) -> Model {
    let admin = app.admin_token().await;
    let mut categories: Vec<Category> = Vec::new();
    for (index, name, parent) in [
        (CLOTHING, "Clothing", None),
        (TEES, "Tees", Some(CLOTHING)),
        (HOODIES, "Hoodies", Some(CLOTHING)),
        (HOME, "Home", None),
    ] {
        assert_eq!(categories.len(), index);
        let parent_id: Option<String> = parent.map(|p: usize| categories[p].id.clone());
        let body = expect(
            app,
            "POST",
            "/api/v1/categories",
            Some(&admin),
            Some(json!({ "name": name, "parent_id": parent_id })),
            201,
        )
        .await;
        categories.push(Category {
            id: id_of(&body),
            slug: text(&body["slug"]),
            name,
            parent,
        });
    }
    let mut stores: Vec<Store> = Vec::new();
    for (index, owner, name) in [
        (NORTH, "north@example.com", "North Shop"),
        (SOUTH, "south@example.com", "South Shop"),
    ] {
        assert_eq!(stores.len(), index);
        let token = vendor(app, owner).await;
        let body = expect(
            app,
            "POST",
            "/api/v1/stores",
            Some(&token),
            Some(json!({ "name": name })),
            201,
        )
        .await;
        stores.push(Store {
            id: id_of(&body),
            slug: text(&body["slug"]),
            vendor: token,
        });
    }
    let apparel = expect(
        app,
        "POST",
        "/api/v1/product-types",
        Some(&admin),
        Some(json!({
            "name": "Apparel",
            "attributes": [
                { "code": "size", "name": "Size", "level": "variant", "values": ["S", "M", "L"] },
                { "code": "color", "name": "Color", "level": "variant", "values": ["Red", "Blue", "Black"] },
                { "code": "material", "name": "Material", "level": "product", "values": ["Cotton", "Linen", "Wool"] },
            ],
        })),
        201,
    )
    .await;
    let mut m = Model {
        type_id: id_of(&apparel),
        categories,
        stores,
        products: Vec::new(),
    };

    let tee = m
        .add(
            app,
            Spec {
                name: "Classic Cotton Tee",
                code: "TEE",
                description: "A breathable tee for every day.",
                category: TEES,
                store: NORTH,
                material: Some("Cotton"),
            },
        )
        .await;
    // S-Red and M-Blue but no S-Blue: size=S with color=Blue must miss it.
    m.generate(app, tee, &["S"], &["Red"], 5_000, 5).await;
    m.generate(app, tee, &["M"], &["Blue"], 6_000, 5).await;

    let shirt = m
        .add(
            app,
            Spec {
                name: "Linen Summer Shirt",
                code: "SHIRT",
                description: "Light and airy for hot days.",
                category: TEES,
                store: NORTH,
                material: Some("Linen"),
            },
        )
        .await;
    m.generate(app, shirt, &["S", "M"], &["Blue"], 12_000, 3)
        .await;
    m.generate(app, shirt, &["L"], &["Black"], 15_000, 2).await;
    // M-Blue sold out: in_stock with size=M and color=Blue must miss it.
    m.patch_variant(app, shirt, Some("M"), "Blue", json!({ "stock": 0 }))
        .await;

    let hoodie = m
        .add(
            app,
            Spec {
                name: "Wool Winter Hoodie",
                code: "HOODIE",
                description: "Warm and soft, with pockets lined in linen.",
                category: HOODIES,
                store: NORTH,
                material: Some("Wool"),
            },
        )
        .await;
    m.generate(app, hoodie, &["M", "L"], &["Black"], 25_000, 4)
        .await;
    m.patch_variant(
        app,
        hoodie,
        Some("L"),
        "Black",
        json!({ "price": kzt(27_000) }),
    )
    .await;
    // Its cheapest and only red variant, inactive: it counts for nothing.
    m.generate(app, hoodie, &["L"], &["Red"], 1_000, 1).await;
    m.patch_variant(app, hoodie, Some("L"), "Red", json!({ "active": false }))
        .await;

    let fleece = m
        .add(
            app,
            Spec {
                name: "Zip Fleece Hoodie",
                code: "FLEECE",
                description: "Cosy fleece with a zip.",
                category: HOODIES,
                store: SOUTH,
                material: Some("Cotton"),
            },
        )
        .await;
    m.generate(app, fleece, &["S", "M"], &["Red"], 18_000, 6)
        .await;
    m.patch_variant(
        app,
        fleece,
        Some("M"),
        "Red",
        json!({ "price": kzt(20_000) }),
    )
    .await;

    // Made of linen without saying so: text search must not find it.
    let towel = m
        .add(
            app,
            Spec {
                name: "Kitchen Towel",
                code: "TOWEL",
                description: "Absorbent towel for the kitchen.",
                category: HOME,
                store: NORTH,
                material: Some("Linen"),
            },
        )
        .await;
    m.generate(app, towel, &[], &["Red", "Blue"], 2_500, 20)
        .await;

    let graphic = m
        .add(
            app,
            Spec {
                name: "Graphic Print Tee",
                code: "PRINT",
                description: "Bold print on soft jersey.",
                category: TEES,
                store: NORTH,
                material: Some("Cotton"),
            },
        )
        .await;
    // Sold out.
    m.generate(app, graphic, &["S", "M"], &["Black"], 7_000, 0)
        .await;

    let polo = m
        .add(
            app,
            Spec {
                name: "Cotton Linen Polo",
                code: "POLO",
                description: "Breathable linen blend, good for every day.",
                category: TEES,
                store: NORTH,
                material: Some("Cotton"),
            },
        )
        .await;
    m.generate(app, polo, &["S"], &["Red", "Blue"], 1_500, 10)
        .await;
    m.deactivate(app, polo).await;

    let tote = m
        .add(
            app,
            Spec {
                name: "Canvas Tote Bag",
                code: "TOTE",
                description: "Прочная сумка для рынка.",
                category: HOME,
                store: SOUTH,
                material: None,
            },
        )
        .await;
    m.generate(app, tote, &[], &["Black"], 9_000, 7).await;

    // No variants: no price, never in stock.
    m.add(
        app,
        Spec {
            name: "Blank Notebook",
            code: "NOTEBOOK",
            description: "Dotted pages.",
            category: HOME,
            store: NORTH,
            material: None,
        },
    )
    .await;

    let ann = customer(app, "ann@example.com").await;
    let bob = customer(app, "bob@example.com").await;
    for (product, who, stars) in [
        (tee, &ann, 5),
        (tee, &bob, 4),
        (shirt, &ann, 5),
        (hoodie, &ann, 3),
        (fleece, &ann, 4),
        (fleece, &bob, 4),
        (towel, &bob, 4),
    ] {
        m.review(app, product, who, stars).await;
    }

    assert_eq!(m.result(&all()).len(), 8, "eight products on sale");
    m
}

/// Each test runs against each engine (`SEARCH_ENGINE`): both must give
/// what the model expects.
macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name("embedded").await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name("postgres").await
            }
        }
    };
}

/// An API searching with `engine`, without the cache in front (every query
/// reaches the engine), waiting for the embedded engine to catch up with
/// each write rather than letting PostgreSQL answer.
async fn app(engine: &str) -> TestApp {
    with_engine(engine).start().await
}

fn with_engine(engine: &str) -> Builder {
    TestApp::builder()
        .without_worker()
        .var("SEARCH_ENGINE", engine)
        .var("SEARCH_WAIT_MS", "10000")
        .var("CATALOG_CACHE", "false")
}

/// Renames the linen shirt to "Velvet Summer Shirt" in the database only,
/// telling nobody; the shirt.
async fn rename_the_shirt_behind_the_engines_back<'m>(app: &TestApp, m: &'m Model) -> &'m Product {
    let shirt = m
        .products
        .iter()
        .find(|p| p.name == "Linen Summer Shirt")
        .unwrap();
    // A search waits until the engine has applied every change told so
    // far: a rebuild still pending from the arrangement's writes (a
    // category, a product type) would otherwise read the rename.
    assert!(ids(app, &q("linen")).await.contains(&shirt.id));
    sqlx::query("UPDATE products SET name = 'Velvet Summer Shirt' WHERE id = $1::uuid")
        .bind(&shirt.id)
        .execute(&app.pool)
        .await
        .unwrap();
    shirt
}

/// Listings filtered by nothing but a category (or nothing at all), in
/// every order, with their facets, as the model has them.
async fn assert_category_listings(app: &TestApp, m: &Model) {
    let categories = [None, Some(CLOTHING), Some(HOME)];
    for category in categories {
        let (filter, param) = match category {
            Some(c) => (
                all().category(c),
                format!("category={}&", m.categories[c].slug),
            ),
            None => (all(), String::new()),
        };
        let body = search(app, &format!("{param}per_page=1")).await;
        assert_eq!(facets_of(&body), m.facets(&filter), "{param}");
        for (sort, order) in EVERY_SORT {
            let query = format!("{param}sort={sort}");
            assert_eq!(
                names(app, m, &query).await,
                m.sorted(&filter, order),
                "{query}"
            );
        }
    }
}

async fn search(app: &TestApp, query: &str) -> Value {
    expect(
        app,
        "GET",
        &format!("/api/v1/products?{query}"),
        None,
        None,
        200,
    )
    .await
}

/// The ids a search finds, in its order (one page holds them all).
async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let query = if query.is_empty() {
        "per_page=100".to_owned()
    } else {
        format!("{query}&per_page=100")
    };
    let body = search(app, &query).await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(
        body["total"].as_u64().unwrap() as usize,
        items.len(),
        "{query}"
    );
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The names of what a search finds, in its order.
async fn names(app: &TestApp, m: &Model, query: &str) -> Vec<&'static str> {
    ids(app, query)
        .await
        .iter()
        .map(|id| m.name_of(id))
        .collect()
}

/// The names a search finds, in any order.
async fn found(app: &TestApp, m: &Model, query: &str) -> Vec<&'static str> {
    unordered(names(app, m, query).await)
}

fn facets_of(body: &Value) -> Facets {
    let f = &body["facets"];
    let categories = f["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                text(&c["id"]),
                text(&c["slug"]),
                text(&c["name"]),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut attributes: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (code, values) in f["attributes"].as_object().unwrap() {
        let values = values.as_array().unwrap();
        let counts: Vec<i64> = values
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "{code}: most first: {values:?}"
        );
        attributes.insert(
            code.clone(),
            values
                .iter()
                .map(|v| (text(&v["value"]), v["count"].as_i64().unwrap()))
                .collect(),
        );
    }
    let price = match &f["price"] {
        Value::Null => None,
        p => {
            assert_eq!(p["min"]["currency"], "KZT", "{p}");
            assert_eq!(p["max"]["currency"], "KZT", "{p}");
            Some((
                p["min"]["amount"].as_i64().unwrap(),
                p["max"]["amount"].as_i64().unwrap(),
            ))
        }
    };
    Facets {
        categories,
        attributes,
        price,
    }
}

/// Every item of a listing shows what the model says of its product.
fn assert_items(m: &Model, body: &Value) {
    for item in body["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let p = m.products.iter().find(|p| p.id == id).unwrap();
        let name = p.name;
        assert_eq!(item["name"], name);
        assert_eq!(item["active"], true, "{name}");
        assert_eq!(
            item["category"]["id"],
            m.categories[p.category].id.as_str(),
            "{name}"
        );
        assert_eq!(
            item["category"]["slug"],
            m.categories[p.category].slug.as_str(),
            "{name}"
        );
        assert_eq!(item["store"]["id"], m.stores[p.store].id.as_str(), "{name}");
        let attributes = match p.material {
            Some(material) => json!({ "material": material }),
            None => json!({}),
        };
        assert_eq!(item["attributes"], attributes, "{name}");
        assert_eq!(item["in_stock"], p.in_stock(), "{name}");
        let range = &item["price_range"];
        match p.min_price().zip(p.max_price()) {
            Some((min, max)) => {
                assert_eq!(range["min"], kzt(min), "{name}");
                assert_eq!(range["max"], kzt(max), "{name}");
            }
            None => assert!(range.is_null(), "{name}: {range}"),
        }
        let (sum, count) = p.rating();
        assert_eq!(item["rating"]["count"], count, "{name}");
        let mean = if count == 0 {
            0.0
        } else {
            (sum as f64 / count as f64 * 100.0).round() / 100.0
        };
        let got = item["rating"]["average"].as_f64().unwrap();
        assert!((got - mean).abs() < 1e-9, "{name}: average {got} != {mean}");
    }
}

both_engines!(a_text_search_finds_stemmed_words_and_ranks_name_matches_first);
async fn a_text_search_finds_stemmed_words_and_ranks_name_matches_first(engine: &str) {
    let app = app(engine).await;
    let m = arrange(&app).await;

    // In a description only; the inactive polo says it too and stays hidden.
    assert_eq!(
        names(&app, &m, &q("breathable")).await,
        ["Classic Cotton Tee"]
    );
    // English stemming: "day" finds "every day" and "hot days".
    assert_eq!(
        unordered(names(&app, &m, &q("day")).await),
        ["Classic Cotton Tee", "Linen Summer Shirt"]
    );
    // Russian stemming: "сумки" finds "сумка".
    assert_eq!(names(&app, &m, &q("сумки")).await, ["Canvas Tote Bag"]);

    // The shirt is named linen, the hoodie only mentions it, the towel is made
    // of it without saying so: name first, description second, towel never.
    for query in [
        q("linen"),
        q("Linen"),
        format!("{}&sort=relevance", q("linen")),
    ] {
        assert_eq!(
            names(&app, &m, &query).await,
            ["Linen Summer Shirt", "Wool Winter Hoodie"],
            "{query}"
        );
    }
    // Every word must match.
    assert_eq!(
        names(&app, &m, &q("linen shirt")).await,
        ["Linen Summer Shirt"]
    );
    // Web-search syntax: an exclusion, a phrase, alternatives.
    assert_eq!(
        names(&app, &m, &q("linen -shirt")).await,
        ["Wool Winter Hoodie"]
    );
    assert_eq!(
        names(&app, &m, &q("\"summer shirt\"")).await,
        ["Linen Summer Shirt"]
    );
    assert_eq!(
        unordered(names(&app, &m, &q("breathable or сумки")).await),
        ["Canvas Tote Bag", "Classic Cotton Tee"]
    );
    // Text and filters together.
    assert_eq!(
        names(
            &app,
            &m,
            &format!("{}&category={}", q("linen"), m.categories[HOODIES].slug)
        )
        .await,
        ["Wool Winter Hoodie"]
    );

    let none = search(&app, &q("umbrella")).await;
    assert_eq!(none["total"], 0);
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["facets"]["categories"], json!([]));
    assert_eq!(none["facets"]["attributes"], json!({}));
    assert!(none["facets"]["price"].is_null(), "{none}");
}

both_engines!(a_misspelt_query_still_finds_the_product_by_its_name);
async fn a_misspelt_query_still_finds_the_product_by_its_name(engine: &str) {
    let app = app(engine).await;
    let m = arrange(&app).await;

    // "cottn" shares 4 of its 6 trigrams with "cotton": word_similarity 0.67.
    // The inactive "Cotton Linen Polo" would match too.
    let cotton = search(&app, &q("cottn")).await;
    assert_eq!(cotton["total"], 1);
    assert_eq!(
        m.name_of(cotton["items"][0]["id"].as_str().unwrap()),
        "Classic Cotton Tee"
    );
    assert_items(&m, &cotton);
    // "linnen" shares 5 of its 7 with "linen" (0.71). Names only: the hoodie,
    // which says linen in its description, is not found by the typo.
    assert_eq!(names(&app, &m, &q("linnen")).await, ["Linen Summer Shirt"]);
    // Too far from any word: nothing.
    assert!(names(&app, &m, &q("ctn")).await.is_empty());
}

both_engines!(each_filter_finds_exactly_the_products_the_model_expects);
async fn each_filter_finds_exactly_the_products_the_model_expects(engine: &str) {
    let app = app(engine).await;
    let m = arrange(&app).await;
    let (category, store) = (&m.categories, &m.stores);

    let cases: Vec<(String, Filter)> = vec![
        // A parent category includes its children, by id and by slug.
        (
            format!("category={}", category[CLOTHING].id),
            all().category(CLOTHING),
        ),
        (
            format!("category={}", category[CLOTHING].slug),
            all().category(CLOTHING),
        ),
        (
            format!("category={}", category[TEES].slug),
            all().category(TEES),
        ),
        (
            format!("category={}", category[HOME].id),
            all().category(HOME),
        ),
        (format!("store={}", store[SOUTH].id), all().store(SOUTH)),
        (format!("store={}", store[NORTH].slug), all().store(NORTH)),
        // Some active variant within the bounds (inclusive).
        ("min_price=20000".into(), all().min_price(20_000)),
        ("max_price=5000".into(), all().max_price(5_000)),
        (
            "min_price=6000&max_price=12000".into(),
            all().min_price(6_000).max_price(12_000),
        ),
        ("min_price=30000".into(), all().min_price(30_000)),
        ("in_stock=true".into(), all().in_stock()),
        ("attr.color=Red".into(), all().attr("color", &["Red"])),
        // Size and color on one and the same variant.
        (
            "attr.size=S&attr.color=Blue".into(),
            all().attr("size", &["S"]).attr("color", &["Blue"]),
        ),
        // A product-level attribute.
        (
            "attr.material=Linen".into(),
            all().attr("material", &["Linen"]),
        ),
        // Values of one code are alternatives.
        (
            "attr.material=Linen&attr.material=Wool".into(),
            all().attr("material", &["Linen", "Wool"]),
        ),
        (
            "attr.size=S&attr.size=L".into(),
            all().attr("size", &["S", "L"]),
        ),
        // Product-level and variant-level together.
        (
            "attr.material=Cotton&attr.size=S".into(),
            all().attr("material", &["Cotton"]).attr("size", &["S"]),
        ),
        // Stock, price and attributes on one variant.
        (
            "in_stock=true&attr.size=M&attr.color=Blue".into(),
            all()
                .in_stock()
                .attr("size", &["M"])
                .attr("color", &["Blue"]),
        ),
        (
            "max_price=12000&attr.color=Black".into(),
            all().max_price(12_000).attr("color", &["Black"]),
        ),
        (
            format!(
                "category={}&store={}&in_stock=true",
                category[CLOTHING].slug, store[NORTH].id
            ),
            all().category(CLOTHING).store(NORTH).in_stock(),
        ),
    ];
    for (query, filter) in &cases {
        let want = unordered(m.result(filter).iter().map(|p| p.name).collect());
        assert_eq!(unordered(names(&app, &m, query).await), want, "{query}");
    }

    // What the data was built to show, stated plainly.
    // The tee has S-Red and M-Blue, not S-Blue.
    assert_eq!(
        found(&app, &m, "attr.size=S&attr.color=Blue").await,
        ["Linen Summer Shirt"]
    );
    // The hoodie's red variant is inactive.
    assert_eq!(
        found(&app, &m, "attr.color=Red").await,
        ["Classic Cotton Tee", "Kitchen Towel", "Zip Fleece Hoodie"]
    );
    // The hoodie's 1 000 variant and the 1 500 polo are inactive.
    assert_eq!(
        found(&app, &m, "max_price=5000").await,
        ["Classic Cotton Tee", "Kitchen Towel"]
    );
    // The shirt's M-Blue is sold out.
    assert_eq!(
        found(&app, &m, "in_stock=true&attr.size=M&attr.color=Blue").await,
        ["Classic Cotton Tee"]
    );
    assert_eq!(
        found(&app, &m, "attr.material=Linen").await,
        ["Kitchen Towel", "Linen Summer Shirt"]
    );
    // Unknown categories and stores find nothing.
    assert!(found(&app, &m, "category=nowhere").await.is_empty());
    assert!(found(&app, &m, "store=nobody").await.is_empty());
    assert!(
        found(&app, &m, "category=00000000-0000-7000-8000-000000000000")
            .await
            .is_empty()
    );
}

both_engines!(each_sort_orders_the_result_as_the_model_expects);
async fn each_sort_orders_the_result_as_the_model_expects(engine: &str) {
    let app = app(engine).await;
    let m = arrange(&app).await;

    // The orders the data was built to give.
    let by_price = m.sorted(&all(), Sort::Price);
    assert_eq!(by_price[..2], ["Kitchen Towel", "Classic Cotton Tee"]);
    assert_eq!(by_price.last(), Some(&"Blank Notebook"), "unpriced last");
    assert_eq!(
        m.sorted(&all(), Sort::PriceDesc)[..2],
        ["Wool Winter Hoodie", "Zip Fleece Hoodie"]
    );
    assert_eq!(
        m.sorted(&all(), Sort::PriceDesc).last(),
        Some(&"Blank Notebook"),
        "unpriced last either way"
    );
    assert_eq!(m.sorted(&all(), Sort::Newest)[0], "Blank Notebook");
    assert_eq!(
        m.sorted(&all(), Sort::Rating)[..5],
        [
            "Linen Summer Shirt",
            "Classic Cotton Tee",
            "Zip Fleece Hoodie",
            "Kitchen Towel",
            "Wool Winter Hoodie"
        ]
    );

    for (query, sort) in [
        ("sort=price", Sort::Price),
        ("sort=-price", Sort::PriceDesc),
        ("sort=newest", Sort::Newest),
        ("sort=rating", Sort::Rating),
        // Without a text query, relevance (the default) means newest.
        ("sort=relevance", Sort::Newest),
        ("", Sort::Newest),
    ] {
        assert_eq!(
            names(&app, &m, query).await,
            m.sorted(&all(), sort),
            "{query}"
        );
    }
    let clothing = format!("category={}", m.categories[CLOTHING].slug);
    for (param, sort) in EVERY_SORT {
        let query = format!("{clothing}&sort={param}");
        assert_eq!(
            names(&app, &m, &query).await,
            m.sorted(&all().category(CLOTHING), sort),
            "{query}"
        );
    }

    // With a text query: relevance by default, any other sort on request.
    let linen = q("linen");
    let (shirt, hoodie) = ("Linen Summer Shirt", "Wool Winter Hoodie");
    for (param, want) in [
        ("relevance", [shirt, hoodie]),
        ("price", [shirt, hoodie]),
        ("-price", [hoodie, shirt]),
        ("newest", [hoodie, shirt]),
        ("rating", [shirt, hoodie]),
    ] {
        let query = format!("{linen}&sort={param}");
        assert_eq!(names(&app, &m, &query).await, want, "{query}");
    }

    let listing = search(&app, "sort=price&per_page=100").await;
    assert_items(&m, &listing);
}

both_engines!(facets_count_the_whole_result_as_the_model_expects);
async fn facets_count_the_whole_result_as_the_model_expects(engine: &str) {
    let app = app(engine).await;
    let m = arrange(&app).await;

    // Over the whole result, not the page.
    let everything = search(&app, "per_page=1").await;
    assert_eq!(everything["items"].as_array().unwrap().len(), 1);
    let got = facets_of(&everything);
    assert_eq!(got, m.facets(&all()));
    // What the data was built to show: the inactive red hoodie variant and
    // the inactive polo count for nothing; the notebook has no price.
    assert_eq!(got.attributes["color"]["Red"], 3);
    assert_eq!(got.attributes["size"]["L"], 2);
    assert_eq!(got.attributes["material"]["Linen"], 2);
    assert_eq!(got.price, Some((2_500, 27_000)));
    assert_eq!(
        got.categories
            .iter()
            .map(|c| (c.2.as_str(), c.3))
            .collect::<Vec<_>>(),
        [("Home", 3), ("Tees", 3), ("Hoodies", 2)]
    );

    let clothing_in_stock = all().category(CLOTHING).in_stock();
    let expected = m.facets(&clothing_in_stock);
    assert_eq!(expected.price, Some((5_000, 27_000)));
    for (query, filter) in [
        (
            format!("category={}&in_stock=true", m.categories[CLOTHING].slug),
            clothing_in_stock,
        ),
        // Facets count every value of the products found, not just black.
        (
            "attr.color=Black".to_owned(),
            all().attr("color", &["Black"]),
        ),
        (
            format!("store={}&max_price=20000", m.stores[SOUTH].id),
            all().store(SOUTH).max_price(20_000),
        ),
        ("min_price=30000".to_owned(), all().min_price(30_000)),
    ] {
        assert_eq!(
            facets_of(&search(&app, &query).await),
            m.facets(&filter),
            "{query}"
        );
    }

    assert_items(&m, &search(&app, "per_page=100").await);
}

both_engines!(pages_partition_the_sorted_result);
async fn pages_partition_the_sorted_result(engine: &str) {
    let app = app(engine).await;
    let m = arrange(&app).await;
    let facets = m.facets(&all());

    for (param, sort) in EVERY_SORT {
        let want = m.sorted(&all(), sort);
        let pages = want.len().div_ceil(3);
        assert_ne!(want.len() % 3, 0, "the last page is shorter");
        let mut seen: Vec<&str> = Vec::new();
        for page in 1..=pages {
            let body = search(&app, &format!("sort={param}&per_page=3&page={page}")).await;
            assert_eq!(body["total"].as_u64().unwrap() as usize, want.len());
            assert_eq!(body["page"], page);
            assert_eq!(body["per_page"], 3);
            assert_eq!(facets_of(&body), facets, "page {page}");
            let items = body["items"].as_array().unwrap();
            let size = if page < pages {
                3
            } else {
                want.len() - 3 * (pages - 1)
            };
            assert_eq!(items.len(), size, "{param} page {page}");
            seen.extend(items.iter().map(|i| m.name_of(i["id"].as_str().unwrap())));
        }
        assert_eq!(seen, want, "{param}");
        assert_eq!(
            seen.iter().collect::<BTreeSet<_>>().len(),
            seen.len(),
            "no duplicates"
        );

        let beyond = search(&app, &format!("sort={param}&per_page=3&page={}", pages + 1)).await;
        assert_eq!(beyond["items"], json!([]));
        assert_eq!(beyond["total"].as_u64().unwrap() as usize, want.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_search_parameters_are_named_in_a_422() {
    let app = TestApp::builder().without_worker().start().await;
    let long = format!("q={}", "a".repeat(201));

    for (query, field) in [
        ("sort=cheap", "sort"),
        ("min_price=-1", "min_price"),
        ("max_price=abc", "max_price"),
        ("unknown=1", "unknown"),
        ("min_price=500&max_price=100", "min_price"),
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("in_stock=maybe", "in_stock"),
        ("attr.Size=M", "attr.Size"),
        ("attr.size=", "attr.size"),
        (long.as_str(), "q"),
    ] {
        let r = send(
            &app,
            "GET",
            &format!("/api/v1/products?{query}"),
            None,
            None,
        )
        .await;
        let body = assert_problem(r, 422).await;
        assert_eq!(error_fields(&body), [field], "{query}: {body}");
    }

    // Every problem at once, in order.
    let r = send(
        &app,
        "GET",
        "/api/v1/products?min_price=-1&max_price=abc&sort=cheap&unknown=1",
        None,
        None,
    )
    .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(
        error_fields(&body),
        ["min_price", "max_price", "sort", "unknown"],
        "{body}"
    );

    // The bounds themselves are fine.
    for query in [
        "per_page=100",
        "page=1",
        "min_price=0",
        "min_price=100&max_price=100",
        "in_stock=false",
        "sort=-price",
        "q=",
    ] {
        let body = search(&app, query).await;
        assert_eq!(body["total"], 0, "{query}");
    }
}

/// The embedded engine's own behaviour, seen by changing rows behind its
/// back: it answers from memory, a message on the change feed brings it up
/// to date (a rebuild, or a re-read of the stock of the products named),
/// and the periodic reconcile heals a change nobody announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_answers_from_memory_follows_the_change_feed_and_reconciles() {
    use bazaar_core::catalog::{self, Availability, Change};
    use std::time::Duration;

    let app = with_engine("embedded")
        .var("SEARCH_RECONCILE_SECS", "3600")
        .start()
        .await;
    let m = arrange(&app).await;
    assert_eq!(
        names(&app, &m, &q("linen")).await,
        ["Linen Summer Shirt", "Wool Winter Hoodie"]
    );

    // Renamed behind the engine's back: PostgreSQL would find "velvet", the
    // engine's memory does not (and still finds the shirt as linen).
    let shirt = rename_the_shirt_behind_the_engines_back(&app, &m).await;
    let id: uuid::Uuid = shirt.id.parse().unwrap();
    let just_the_shirt = [shirt.id.as_str()];
    assert!(ids(&app, &q("velvet")).await.is_empty());
    assert_eq!(ids(&app, &q("linen")).await[0], shirt.id);

    // Announced the way the seed and the workers announce: rebuilt.
    catalog::publish(&app.config, &Change::All).await.unwrap();
    crate::harness::eventually(
        "the rename is searchable",
        Duration::from_secs(10),
        || async { (ids(&app, &q("velvet")).await == [shirt.id.as_str()]).then_some(()) },
    )
    .await;

    // Sold out behind its back: the in-stock filter still shows it until a
    // stock message names the product, then not.
    let in_stock = format!("{}&in_stock=true", q("velvet"));
    assert_eq!(ids(&app, &in_stock).await, just_the_shirt);
    sqlx::query("UPDATE variants SET reserved = stock WHERE product_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(ids(&app, &in_stock).await, just_the_shirt);
    let sold_out = Availability {
        products: vec![id],
        crossed: vec![id],
    };
    catalog::publish(&app.config, &Change::Availability(sold_out))
        .await
        .unwrap();
    crate::harness::eventually("the sell-out is seen", Duration::from_secs(10), || async {
        ids(&app, &in_stock).await.is_empty().then_some(())
    })
    .await;
    // Still found without the filter.
    assert_eq!(ids(&app, &q("velvet")).await, just_the_shirt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_heals_an_unannounced_change_at_its_reconcile() {
    use std::time::Duration;

    let app = with_engine("embedded")
        .var("SEARCH_RECONCILE_SECS", "2")
        .start()
        .await;
    let m = arrange(&app).await;
    let shirt = rename_the_shirt_behind_the_engines_back(&app, &m).await;
    crate::harness::eventually(
        "the reconcile finds the rename",
        Duration::from_secs(15),
        || async { (ids(&app, &q("velvet")).await == [shirt.id.as_str()]).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_re_reads_just_the_products_a_write_names() {
    use bazaar_core::catalog::{self, Change};
    use std::time::Duration;

    let app = with_engine("embedded")
        .var("SEARCH_RECONCILE_SECS", "3600")
        .start()
        .await;
    let mut m = arrange(&app).await;
    // Telling nobody: a full rebuild would find "velvet", a patch of other
    // products does not.
    let shirt = rename_the_shirt_behind_the_engines_back(&app, &m)
        .await
        .id
        .clone();
    // As products are read back (from PostgreSQL, by id).
    let renamed = m.products.iter().position(|p| p.id == shirt).unwrap();
    m.products[renamed].name = "Velvet Summer Shirt";
    let hoodie = m
        .products
        .iter()
        .position(|p| p.name == "Wool Winter Hoodie")
        .unwrap();
    let fleece = m
        .products
        .iter()
        .position(|p| p.name == "Zip Fleece Hoodie")
        .unwrap();
    let north = m.stores[NORTH].vendor.clone();
    let south = m.stores[SOUTH].vendor.clone();
    // Read before the writes, so the engine has made these listings (it
    // keeps unfiltered ones): what it made must not outlive the writes.
    assert_category_listings(&app, &m).await;

    // Renamed and moved to another category through the API.
    let path = format!("/api/v1/products/{}", m.products[hoodie].id);
    let renamed = json!({ "name": "Alpaca Winter Hoodie", "category_id": m.categories[HOME].id });
    expect(&app, "PATCH", &path, Some(&north), Some(renamed), 200).await;
    m.products[hoodie].name = "Alpaca Winter Hoodie";
    m.products[hoodie].category = HOME;
    // Taken off the storefront.
    let fleece_path = format!("/api/v1/products/{}", m.products[fleece].id);
    let set_active = |active: bool| {
        let (app, path, south) = (&app, &fleece_path, &south);
        async move {
            let body = json!({ "active": active });
            expect(app, "PATCH", path, Some(south), Some(body), 200).await;
        }
    };
    set_active(false).await;
    m.products[fleece].active = false;
    // And a new one, with a variant.
    let scarf = m
        .add(
            &app,
            Spec {
                name: "Alpaca Travel Scarf",
                code: "SCARF",
                description: "Soft alpaca for cold trains.",
                category: TEES,
                store: SOUTH,
                material: Some("Wool"),
            },
        )
        .await;
    m.generate(&app, scarf, &["M"], &["Red"], 9_000, 2).await;

    assert_eq!(
        found(&app, &m, &q("alpaca")).await,
        ["Alpaca Travel Scarf", "Alpaca Winter Hoodie"]
    );
    assert!(found(&app, &m, &q("fleece")).await.is_empty());
    assert!(
        ids(&app, &q("velvet")).await.is_empty(),
        "only the named products were re-read"
    );
    for (query, filter) in [
        ("per_page=1".to_owned(), all()),
        (
            format!("category={}", m.categories[HOME].slug),
            all().category(HOME),
        ),
        (
            format!("category={}&in_stock=true", m.categories[CLOTHING].slug),
            all().category(CLOTHING).in_stock(),
        ),
        ("attr.color=Red".to_owned(), all().attr("color", &["Red"])),
    ] {
        let body = search(&app, &query).await;
        assert_eq!(facets_of(&body), m.facets(&filter), "{query}");
    }
    assert_items(&m, &search(&app, "per_page=100").await);
    assert_category_listings(&app, &m).await;

    // Back on the storefront: its old place, its old name.
    set_active(true).await;
    m.products[fleece].active = true;
    assert_eq!(found(&app, &m, &q("fleece")).await, ["Zip Fleece Hoodie"]);
    assert_category_listings(&app, &m).await;

    // A product named by another process's message.
    catalog::publish(&app.config, &Change::Products(vec![shirt.parse().unwrap()]))
        .await
        .unwrap();
    crate::harness::eventually(
        "the named product is re-read",
        Duration::from_secs(10),
        || async { (ids(&app, &q("velvet")).await == [shirt.as_str()]).then_some(()) },
    )
    .await;
}
