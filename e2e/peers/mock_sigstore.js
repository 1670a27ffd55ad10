// A local Sigstore for the e2e suite: Fulcio, Rekor v1 and a CT log from @sigstore/mock,
// served over HTTP on 127.0.0.1. Keys are new on every start.
//
//   node mock_sigstore.js PORT OUTDIR
//
// Writes into OUTDIR:
//   trusted_root.json          what verifiers pin (both CAs below, the Rekor and CT log keys)
//   trust_config.json          for signers: Fulcio at /, Rekor at /
//   trust_config_expired.json  the same, but Fulcio on PORT+1: a second CA whose clock runs an
//                              hour behind, so its certificates have expired by the time Rekor
//                              logs the signature
//   ready                      once the server listens
const http = require('http'), crypto = require('crypto'), fs = require('fs'), path = require('path');
const mock = require('@sigstore/mock');

const PORT = parseInt(process.argv[2], 10);
const OUT = process.argv[3];
const BASE = `http://127.0.0.1:${PORT}`;
const START = '2020-01-01T00:00:00Z';
const keyPair = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const b64 = (bytes) => Buffer.from(bytes).toString('base64');

(async () => {
  const ctlog = await mock.initializeCTLog(keyPair());
  const ca = await mock.initializeCA(keyPair(), ctlog);
  const staleCa = await mock.initializeCA(keyPair(), ctlog, new Date(Date.now() - 3600 * 1000));
  const tlog = await mock.initializeTLog(BASE, keyPair());

  const routes = (...handlers) => Object.fromEntries(handlers.map((h) => [h.path, h.fn]));
  const main = routes(mock.fulcioHandler(ca), mock.rekorHandler(tlog));
  const expired = routes(mock.fulcioHandler(staleCa));

  const authority = (cert, name) => ({
    subject: { organization: 'sigstore.mock', commonName: name },
    uri: BASE,
    certChain: { certificates: [{ rawBytes: b64(cert) }] },
    validFor: { start: START },
  });
  const log = (key, id) => ({
    baseUrl: BASE,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: b64(key), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: START } },
    logId: { keyId: id },
  });
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [log(tlog.publicKey, crypto.createHash('sha256').update(tlog.publicKey).digest('base64'))],
    certificateAuthorities: [authority(ca.rootCertificate, 'sigstore'), authority(staleCa.rootCertificate, 'stale')],
    ctlogs: [log(ctlog.publicKey, b64(ctlog.logID))],
    timestampAuthorities: [],
  };
  const trustConfig = (caUrl) => ({
    mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
    trustedRoot,
    signingConfig: {
      mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
      caUrls: [{ url: caUrl, majorApiVersion: 1, validFor: { start: START }, operator: 'mock' }],
      oidcUrls: [],
      rekorTlogUrls: [{ url: BASE, majorApiVersion: 1, validFor: { start: START }, operator: 'mock' }],
      rekorTlogConfig: { selector: 'ANY' },
      tsaUrls: [],
      tsaConfig: { selector: 'ANY' },
    },
  });
  const write = (name, doc) => fs.writeFileSync(path.join(OUT, name), JSON.stringify(doc, null, 1));
  write('trusted_root.json', trustedRoot);
  write('trust_config.json', trustConfig(BASE));
  write('trust_config_expired.json', trustConfig(`http://127.0.0.1:${PORT + 1}`));

  http.createServer(serve(expired)).listen(PORT + 1, '127.0.0.1');
  http.createServer(serve(main)).listen(PORT, '127.0.0.1', () => fs.writeFileSync(path.join(OUT, 'ready'), BASE));
})();

function serve(routes) {
  return (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c)).on('end', async () => {
      const route = req.url.split('?')[0];
      const handler = req.method === 'POST' && routes[route];
      if (!handler) {
        res.writeHead(404);
        res.end('not found');
        return;
      }
      let body = Buffer.concat(chunks).toString();
      if (route.endsWith('/api/v2/signingCert')) body = adaptSigningCertRequest(body, req.headers.authorization);
      try {
        const r = await handler(body);
        res.writeHead(r.statusCode, { 'Content-Type': r.contentType || 'application/json' });
        res.end(r.response);
      } catch (e) {
        res.writeHead(500);
        res.end(String(e));
      }
    });
  };
}

// sigstore-python sends the identity token as a bearer header and the CSR as base64 of its
// PEM; @sigstore/mock expects both inside the JSON body, the CSR as PEM.
function adaptSigningCertRequest(body, authorization) {
  const request = JSON.parse(body);
  if (!request.credentials && authorization && authorization.startsWith('Bearer ')) {
    request.credentials = { oidcIdentityToken: authorization.slice('Bearer '.length) };
  }
  const csr = request.certificateSigningRequest;
  if (csr && !csr.startsWith('-----')) {
    const decoded = Buffer.from(csr, 'base64').toString();
    if (decoded.startsWith('-----BEGIN')) request.certificateSigningRequest = decoded;
  }
  return JSON.stringify(request);
}
