// A small assignment service on the official GrowthBook JavaScript SDK: the
// third-party system under test of umpire's growthbook_sdk_* load scenarios.
//
// Every assignment is the SDK's own answer (`runInlineExperiment`, the
// singleton `GrowthBookClient` the SDK's README recommends on servers); this
// file only routes requests and shapes the JSON. umpire checks the answers
// against its own GrowthBook hashing, so nothing here may compute a bucket.
//
//   GET /healthz                     -> 200 {"ok":true}
//   GET /assign/{experimentKey}?id=X -> 200 {"experiment","id","inExperiment",
//                                        "variationId","key","hashUsed","bucket"}
//
// Environment: PORT (default 8099; 0 picks a free port, printed on the startup
// line), GB_CONFIG (default config.json, relative to the working directory),
// HASH_VERSION (1 or 2: overrides every experiment's hashVersion; the
// wrong-hash scenario misconfigures the service with it).
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const { GrowthBookClient } = require("@growthbook/growthbook");
const sdkVersion = require("@growthbook/growthbook/package.json").version;

const NAME = "growthbook-sdk-service";
// The characters umpire allows in experiment names (they appear in paths).
const KEY_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

function fail(message) {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(1);
}

function readHashVersion() {
  const raw = process.env.HASH_VERSION;
  if (raw === undefined || raw === "") return undefined;
  if (raw !== "1" && raw !== "2") {
    fail(`HASH_VERSION must be 1 or 2, found ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function readPort() {
  const raw = process.env.PORT === undefined ? "8099" : process.env.PORT;
  const port = Number(raw);
  if (!/^[0-9]+$/.test(raw) || port > 65535) {
    fail(`PORT must be an integer in 0..=65535, found ${JSON.stringify(raw)}`);
  }
  return port;
}

// The experiments, keyed by their key, in the SDK's inline-experiment shape.
// Only the fields that decide an assignment are passed on, so a typo in the
// file is an error here rather than an experiment the SDK silently ignores.
function readExperiments(path, hashVersion) {
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(path, "utf8"));
  } catch (e) {
    fail(`cannot read GB_CONFIG ${path}: ${e.message}`);
  }
  const list = parsed && parsed.experiments;
  if (!Array.isArray(list) || list.length === 0) {
    fail(`${path}: expected {"experiments": [ ... ]} with at least one experiment`);
  }
  const known = new Set([
    "key", "variations", "weights", "coverage", "namespace", "hashVersion", "seed",
  ]);
  const experiments = new Map();
  list.forEach((e, i) => {
    const where = `${path}: experiments[${i}]`;
    if (!e || typeof e.key !== "string" || !KEY_PATTERN.test(e.key)) {
      fail(`${where}.key must be 1 to 64 of A-Z a-z 0-9 _ . -`);
    }
    if (experiments.has(e.key)) fail(`${where}.key ${e.key} appears twice`);
    if (!Array.isArray(e.variations) || e.variations.length < 2) {
      fail(`${where}.variations must list at least 2 variations`);
    }
    for (const k of Object.keys(e)) {
      if (!known.has(k)) fail(`${where} has unknown field ${k} (known: ${[...known].join(", ")})`);
    }
    const experiment = { ...e };
    if (hashVersion !== undefined) experiment.hashVersion = hashVersion;
    experiments.set(e.key, Object.freeze(experiment));
  });
  return experiments;
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function main() {
  const hashVersion = readHashVersion();
  const port = readPort();
  const configPath = process.env.GB_CONFIG || "config.json";
  const experiments = readExperiments(configPath, hashVersion);
  // No apiHost or clientKey: the SDK fetches nothing and runs the inline
  // experiments from the config file only.
  const gb = new GrowthBookClient({ enableDevMode: false });

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (req.method !== "GET") {
      send(res, 405, { error: `${req.method} is not allowed; use GET` });
      return;
    }
    if (url.pathname === "/healthz") {
      send(res, 200, { ok: true });
      return;
    }
    const route = /^\/assign\/([^/]+)$/.exec(url.pathname);
    if (route === null) {
      send(res, 404, { error: `no route ${url.pathname}` });
      return;
    }
    let key;
    try {
      key = decodeURIComponent(route[1]);
    } catch {
      send(res, 400, { error: "the experiment key is not valid percent-encoding" });
      return;
    }
    const experiment = experiments.get(key);
    if (experiment === undefined) {
      send(res, 404, { error: `unknown experiment ${key}`, experiments: [...experiments.keys()] });
      return;
    }
    const id = url.searchParams.get("id");
    if (!id) {
      send(res, 400, { error: "missing query parameter id" });
      return;
    }
    const r = gb.runInlineExperiment(experiment, { attributes: { id } });
    send(res, 200, {
      experiment: key,
      id,
      inExperiment: r.inExperiment,
      variationId: r.variationId,
      key: r.key,
      hashUsed: r.hashUsed,
      // The SDK's hash, present only when it assigned by hashing.
      bucket: r.bucket === undefined ? null : r.bucket,
    });
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    // A client that keeps a request open must not hold the exit for long.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  server.on("error", (e) => fail(`cannot listen on 127.0.0.1:${port}: ${e.message}`));
  server.listen(port, "127.0.0.1", () => {
    const override = hashVersion === undefined ? "none" : String(hashVersion);
    process.stdout.write(
      `${NAME} listening on http://127.0.0.1:${server.address().port} ` +
        `(@growthbook/growthbook ${sdkVersion}, experiments: ${[...experiments.keys()].join(", ")}, ` +
        `HASH_VERSION override: ${override})\n`,
    );
  });
}

main();
