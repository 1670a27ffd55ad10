// A Sigstore bundle signed with a plain key (cosign `sign-blob --key --new-bundle-format`
// style, no Fulcio certificate) by sigstore-js, logged in the Rekor at REKOR_URL.
//
//   node key_bundle.js PRIVATE_KEY.pem PUBLIC_KEY.pem REKOR_URL FILE OUT_BUNDLE
const fs = require('fs');
const crypto = require('crypto');
const { MessageSignatureBundleBuilder, RekorWitness } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

const [keyFile, pubFile, rekorBaseURL, file, out] = process.argv.slice(2);
const privateKey = crypto.createPrivateKey(fs.readFileSync(keyFile));
const publicKey = fs.readFileSync(pubFile, 'utf8');
// The key hint: sha256 of the DER SubjectPublicKeyInfo, as cosign writes it.
const spki = crypto.createPublicKey(publicKey).export({ format: 'der', type: 'spki' });
const hint = crypto.createHash('sha256').update(spki).digest('base64');
const signer = {
  sign: async (data) => ({
    signature: crypto.sign('sha256', data, privateKey),
    key: { $case: 'publicKey', publicKey, hint },
  }),
};
const builder = new MessageSignatureBundleBuilder({ signer, witnesses: [new RekorWitness({ rekorBaseURL })] });
builder
  .create({ data: fs.readFileSync(file) })
  .then((bundle) => fs.writeFileSync(out, JSON.stringify(bundleToJSON(bundle))))
  .catch((e) => {
    console.error('signing failed:', e.message);
    process.exit(1);
  });
