// Keyless signing with sigstore-js (@sigstore/sign) against a Fulcio and a Rekor of your choice.
// Unlike sigstore-python it does not refuse an expired certificate, so the suite can make one.
//
//   node sign_bundle.js FULCIO_URL REKOR_URL IDENTITY_TOKEN FILE OUT_BUNDLE
const fs = require('fs');
const { FulcioSigner, MessageSignatureBundleBuilder, RekorWitness } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

const [fulcioURL, rekorBaseURL, token, file, out] = process.argv.slice(2);
const signer = new FulcioSigner({ fulcioBaseURL: fulcioURL, identityProvider: { getToken: async () => token } });
const builder = new MessageSignatureBundleBuilder({ signer, witnesses: [new RekorWitness({ rekorBaseURL })] });
builder
  .create({ data: fs.readFileSync(file) })
  .then((bundle) => fs.writeFileSync(out, JSON.stringify(bundleToJSON(bundle))))
  .catch((e) => {
    console.error('signing failed:', e.message);
    process.exit(1);
  });
