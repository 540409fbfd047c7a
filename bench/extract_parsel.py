#!/usr/bin/python3
"""The peer of bench/extract_bench.cpp: the same extraction with Scrapy's parsel, one thread.

    /usr/bin/python3 bench/extract_parsel.py PAGES_DIR [--pages N] [--repeat R]
                                            [--mode jsonld|html|both] [--dump FILE]

Loads the first N *.html files of PAGES_DIR (sorted by name) as bytes, then times R passes over
all of them per mode (process CPU time) and prints the best pass, in extract_bench's format:

    parsel jsonld pages=N bytes=B best_s=S mb_per_s=M items=K

jsonld  what a Scrapy spider does for schema.org Products: the page decoded and parsed by parsel
        (lxml), the application/ld+json scripts selected by XPath, json.loads, the Product found
        (also in @graph) and normalized to the product fields (the reference workload's peer
        spider's code, shared/workload/peers/scrapy_spider.py)
html    the page decoded and parsed by parsel, then the product fields by CSS selectors (the same
        selectors as extract_bench's html rule set), text normalized, price and availability
        converted

Needs Debian's python3-parsel (use /usr/bin/python3, not a pyenv python).
"""
import argparse
import json
import os
import re
import sys
import time

from parsel import Selector

AVAIL = {"instock": "in_stock", "outofstock": "out_of_stock", "preorder": "preorder",
         "backorder": "backorder", "discontinued": "discontinued",
         "limitedavailability": "limited", "onlineonly": "online_only", "soldout": "sold_out",
         "instoreonly": "in_store_only"}
PRICE_RE = re.compile(r"[-+]?\d[\d.,\s]*")
CURRENCY = {"$": "$", "€": "EUR", "£": "GBP"}


def parse_price(v):
    if v is None or isinstance(v, (int, float)):
        return v
    m = PRICE_RE.search(str(v))
    if not m:
        return None
    s = m.group(0).strip().replace(" ", "")
    if "," in s and (s.rfind(",") > s.rfind(".")):   # 1.299,99 -> 1299.99
        s = s.replace(".", "").replace(",", ".")
    else:
        s = s.replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def find_product(node):
    if isinstance(node, list):
        for x in node:
            p = find_product(x)
            if p:
                return p
    elif isinstance(node, dict):
        t = node.get("@type")
        if t == "Product" or (isinstance(t, list) and "Product" in t):
            return node
        if "@graph" in node:
            return find_product(node["@graph"])
    return None


def normalize_ld(p):
    offers = p.get("offers")
    if isinstance(offers, list):
        offers = offers[0] if offers else None
    offers = offers or {}
    brand = p.get("brand")
    if isinstance(brand, dict):
        brand = brand.get("name")
    image = p.get("image")
    if isinstance(image, list):
        image = image[0] if image else None
    if isinstance(image, dict):
        image = image.get("url")
    rating = p.get("aggregateRating") or {}
    avail = offers.get("availability")
    if avail:
        avail = AVAIL.get(str(avail).rsplit("/", 1)[-1].lower())
    price = offers.get("price")
    if price is None:
        price = offers.get("lowPrice")
    ident = p.get("sku") or p.get("productID")
    for k in ("gtin13", "gtin12", "gtin14", "gtin8", "mpn"):
        ident = ident or p.get(k)
    rc = rating.get("reviewCount", rating.get("ratingCount"))
    return {"id": ident, "name": p.get("name"), "brand": brand, "price": parse_price(price),
            "currency": offers.get("priceCurrency"), "availability": avail,
            "rating": parse_price(rating.get("ratingValue")),
            "review_count": int(rc) if rc is not None else None, "image": image}


def extract_jsonld(body):
    sel = Selector(text=body.decode("utf-8", "replace"))
    items = []
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            product = find_product(json.loads(raw))
        except ValueError:
            continue
        if product:
            items.append(normalize_ld(product))
    return items


def text_of(sel, css):
    parts = sel.css(css + " ::text").getall()
    return " ".join(" ".join(parts).split()) if parts else None


def extract_html(body):
    sel = Selector(text=body.decode("utf-8", "replace"))
    price_text = text_of(sel, "span.price")
    price = parse_price(price_text)
    currency = None
    if price_text:
        for symbol, code in CURRENCY.items():
            if symbol in price_text:
                currency = code
                break
    avail = sel.css("#availability::attr(data-availability)").get()
    rating = sel.css("#rating::attr(data-rating)").get()
    try:
        rating = float(rating) if rating is not None else None
    except ValueError:
        rating = None
    return [{"id": sel.css("main#dp-container::attr(data-asin)").get(),
             "name": text_of(sel, "h1#title"), "brand": text_of(sel, "span.brand"),
             "price": price,
             "availability": AVAIL.get(avail.replace("_", "").lower(), avail) if avail else None,
             "rating": rating, "review_count": text_of(sel, "#review-count"),
             "image": sel.css("img#landingImage::attr(src)").get(), "currency": currency}]


def best_of(repeat, pages, extract, dump):
    best, items = float("inf"), 0
    for r in range(repeat):
        keep = dump if r + 1 == repeat else None
        count = 0
        start = time.process_time()
        for name, body in pages:
            found = extract(body)
            count += len(found)
            if keep is not None:
                for item in found:
                    item["page"] = name
                    keep.append(item)
        best = min(best, time.process_time() - start)
        items = count
    return best, items


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=["jsonld", "html", "both"], default="both")
    ap.add_argument("--dump")
    a = ap.parse_args()
    names = sorted(f for f in os.listdir(a.dir) if f.endswith(".html"))[:a.pages]
    pages = []
    for name in names:
        with open(os.path.join(a.dir, name), "rb") as f:
            pages.append((name, f.read()))
    if not pages:
        sys.exit(f"extract_parsel: no *.html in {a.dir}")
    size = sum(len(b) for _, b in pages)
    dumps = []
    for mode, fn in (("jsonld", extract_jsonld), ("html", extract_html)):
        if a.mode not in (mode, "both"):
            continue
        kept = [] if a.dump else None
        seconds, items = best_of(max(1, a.repeat), pages, fn, kept)
        print(f"parsel {mode} pages={len(pages)} bytes={size} best_s={seconds:.4f} "
              f"mb_per_s={size / 1e6 / seconds:.1f} items={items}", flush=True)
        for item in kept or []:
            item["mode"] = mode
            dumps.append(item)
    if a.dump:
        with open(a.dump, "w", encoding="utf-8") as f:
            for item in dumps:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
