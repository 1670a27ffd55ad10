// Sigstore bundles made by sigstore-js (@sigstore/sign), logged in the Rekor you name:
//
//   node sign_bundle.js keyless FULCIO_URL REKOR_URL IDENTITY_TOKEN FILE OUT_BUNDLE
//   node sign_bundle.js key PRIVATE_KEY.pem PUBLIC_KEY.pem REKOR_URL FILE OUT_BUNDLE
//
// keyless: a Fulcio certificate for the token's identity. Unlike sigstore-python it does not
// refuse an expired certificate, so the suite can make one.
// key: a plain key, no certificate (cosign `sign-blob --key --new-bundle-format` style).
const fs = require('fs');
const crypto = require('crypto');
const { FulcioSigner, MessageSignatureBundleBuilder, RekorWitness } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

function keySigner(keyFile, pubFile) {
  const privateKey = crypto.createPrivateKey(fs.readFileSync(keyFile));
  const publicKey = fs.readFileSync(pubFile, 'utf8');
  // The key hint: sha256 of the DER SubjectPublicKeyInfo, as cosign writes it.
  const spki = crypto.createPublicKey(publicKey).export({ format: 'der', type: 'spki' });
  const hint = crypto.createHash('sha256').update(spki).digest('base64');
  return {
    sign: async (data) => ({
      signature: crypto.sign('sha256', data, privateKey),
      key: { $case: 'publicKey', publicKey, hint },
    }),
  };
}

const [mode, ...args] = process.argv.slice(2);
let signer, rekorBaseURL, file, out;
if (mode === 'keyless') {
  const [fulcioBaseURL, rekor, token] = args;
  [rekorBaseURL, file, out] = [rekor, args[3], args[4]];
  signer = new FulcioSigner({ fulcioBaseURL, identityProvider: { getToken: async () => token } });
} else if (mode === 'key') {
  [rekorBaseURL, file, out] = [args[2], args[3], args[4]];
  signer = keySigner(args[0], args[1]);
} else {
  console.error('usage: sign_bundle.js keyless|key …');
  process.exit(2);
}
const builder = new MessageSignatureBundleBuilder({ signer, witnesses: [new RekorWitness({ rekorBaseURL })] });
builder
  .create({ data: fs.readFileSync(file) })
  .then((bundle) => fs.writeFileSync(out, JSON.stringify(bundleToJSON(bundle))))
  .catch((e) => {
    console.error('signing failed:', e.message);
    process.exit(1);
  });
