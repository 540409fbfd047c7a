// Crawlee's PuppeteerCrawler on the same SPA pages as render_bench.sh, for the side-by-side
// figure: Debian's Chromium through puppeteer-core (no browser downloaded), one browser with
// TABS pages at once, each page waited for until `.product` is there, its title and price
// written as one JSON line to OUT.
//
//   CRAWLEE_PREFIX=DIR node bench/render_crawlee.mjs URLS_FILE TABS OUT
// (DIR: the npm prefix crawlee and puppeteer-core were installed into)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.CRAWLEE_PREFIX, 'node_modules', 'x.js'));
const { PuppeteerCrawler, Configuration } = require('crawlee');
const puppeteer = require('puppeteer-core');

const [urlsFile, tabsText, out] = process.argv.slice(2);
const tabs = Number(tabsText);
const urls = fs.readFileSync(urlsFile, 'utf8').split('\n').filter(Boolean);
const sink = fs.openSync(out, 'w');

const crawler = new PuppeteerCrawler({
  launchContext: {
    launcher: puppeteer,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    },
    useChrome: false,
  },
  browserPoolOptions: { maxOpenPagesPerBrowser: tabs, useFingerprints: false },
  minConcurrency: tabs,
  maxConcurrency: tabs,
  maxRequestRetries: 1,
  requestHandlerTimeoutSecs: 30,
  async requestHandler({ page, request }) {
    await page.waitForSelector('.product', { timeout: 15000 });
    const item = await page.evaluate(() => ({
      title: document.querySelector('h1.title')?.textContent,
      price: Number(document.querySelector('.price')?.textContent),
    }));
    fs.writeSync(sink, JSON.stringify({ url: request.url, ...item }) + '\n');
  },
}, new Configuration({ persistStorage: false, purgeOnStart: true }));

await crawler.run(urls);
fs.closeSync(sink);
