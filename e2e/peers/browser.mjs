// Drives Debian's Chromium with Playwright through the web catalog, as the e2e tests ask.
//
// Usage: node browser.mjs SCENARIO   with BROWSER_PLAN set to a JSON object:
//   base       the skilldex URL
//   shots      a directory for screenshots
//   ...        what the scenario needs (see each below)
// Prints one JSON object (what the scenario found) on its last line; exits non-zero with a
// message when a step fails. What the server stored is checked by the Rust test afterwards.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const plan = JSON.parse(process.env.BROWSER_PLAN || "{}");
const scenario = process.argv[2];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/// A context whose pages report dialogs, page errors and CSP violations into `events`.
async function watchedContext(browser, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  const events = { dialogs: [], errors: [], csp: [] };
  context.on("page", (page) => watch(page, events));
  return { context, events };
}

function watch(page, events) {
  page.on("dialog", async (d) => {
    events.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on("pageerror", (e) => events.errors.push(String(e)));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) events.csp.push(m.text());
  });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(plan.shots, `${name}.png`), fullPage: true });
}

/// axe-core's serious and critical violations on the page, WCAG 2 A and AA rules.
async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

/// Nothing wider than the screen: no sideways scrolling on a phone.
async function fitsThePhone(page, url) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `${url} is ${overflow}px wider than a phone's screen`);
}

async function go(page, url, expectStatus = 200) {
  const response = await page.goto(url, { waitUntil: "load" });
  check(response.status() === expectStatus, `${url} answered ${response.status()}, expected ${expectStatus}`);
  return response;
}

/// A visitor: searches, opens a skill, copies the CLI install command; private skills stay
/// hidden; a hostile README does nothing; axe on the main pages; screenshots.
async function visitor(browser) {
  const { context, events } = await watchedContext(browser);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: plan.base });
  const page = await context.newPage();
  const found = { axe: {}, };

  await go(page, `${plan.base}/`);
  await shot(page, "home-desktop");
  found.axe.home = await axe(page);

  // Search with the header's box, as a person would.
  await page.fill("#q", plan.query);
  await Promise.all([page.waitForURL(/\/search\?/), page.press("#q", "Enter")]);
  const results = await page.locator("main a[href^='/skills/']").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  found.results = results;
  await shot(page, "search-desktop");
  found.axe.search = await axe(page);

  await Promise.all([page.waitForURL(`**${plan.skill}`), page.click(`main a[href='${plan.skill}']`)]);
  await shot(page, "skill-desktop");
  found.axe.skill = await axe(page);
  // The first snippet is the skilldex CLI's; its Copy button appears once the script runs.
  const copy = page.locator(".snippet button.copy").first();
  await copy.waitFor({ state: "visible" });
  await copy.click();
  await page.locator(".snippet button.copy", { hasText: "Copied" }).first().waitFor();
  found.copied = await page.evaluate(() => navigator.clipboard.readText());

  // Search as you type: the suggestions list fills from /search/suggest.
  await page.fill("#q", plan.suggest);
  await page.waitForFunction(() => document.querySelectorAll("#suggestions option").length > 0, null, { timeout: 5000 });
  found.suggestions = await page.locator("#suggestions option").evaluateAll((os) => os.map((o) => o.value));

  // A private skill: not found, not in results, not suggested.
  await go(page, `${plan.base}${plan.private}`, 404);
  found.axe.notFound = await axe(page);
  await shot(page, "not-found-desktop");
  await go(page, `${plan.base}/search?q=${encodeURIComponent(plan.privateWord)}`);
  found.privateResults = await page.locator("main a[href^='/skills/']").count();
  const suggest = await page.request.get(`${plan.base}/search/suggest?q=${encodeURIComponent(plan.privateWord)}`);
  found.privateSuggestions = await suggest.json();

  await go(page, `${plan.base}${plan.team}`);
  found.axe.team = await axe(page);
  await shot(page, "team-desktop");
  await go(page, `${plan.base}/signin`);
  found.axe.signin = await axe(page);
  await shot(page, "signin-desktop");
  await go(page, `${plan.base}${plan.diff}`);
  found.axe.diff = await axe(page);
  await shot(page, "diff-desktop");
  await go(page, `${plan.base}/wishes`);
  found.axe.wishes = await axe(page);
  await shot(page, "wishes-desktop");

  // Phone-sized and dark.
  await page.setViewportSize(PHONE);
  for (const [name, url] of [
    ["home", "/"],
    ["search", `/search?q=${plan.query}`],
    ["skill", plan.skill],
    ["team", plan.team],
    ["signin", "/signin"],
    ["wishes", "/wishes"],
  ]) {
    await go(page, `${plan.base}${url}`);
    await shot(page, `${name}-phone`);
    found.axe[`${name}Phone`] = await axe(page);
    await fitsThePhone(page, url);
  }
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize(DESKTOP);
  await go(page, `${plan.base}${plan.skill}`);
  await shot(page, "skill-dark");
  found.axe.skillDark = await axe(page);
  await go(page, `${plan.base}/`);
  await shot(page, "home-dark");
  found.axe.homeDark = await axe(page);

  found.events = events;
  await context.close();
  return found;
}

/// A README full of XSS payloads, opened twice: under the site's CSP, and with CSP bypassed
/// so that only the sanitizer stands between the payloads and the page.
async function xss(browser) {
  const found = {};
  for (const bypassCSP of [false, true]) {
    const { context, events } = await watchedContext(browser, { bypassCSP });
    const page = await context.newPage();
    await go(page, `${plan.base}${plan.skill}`);
    // Give timers, image errors and animations a moment to fire.
    await page.waitForTimeout(1000);
    await page.mouse.move(400, 400);
    await page.locator("article.readme").hover();
    const dom = await page.evaluate(() => {
      const readme = document.querySelector("article.readme");
      const all = [...readme.querySelectorAll("*")];
      return {
        executed: window.__xss === true,
        scripts: readme.querySelectorAll("script, iframe, object, embed, frame, frameset, base, form, meta, link, style").length,
        handlers: all.filter((e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith("on"))).length,
        jsUrls: all.filter((e) =>
          [...e.attributes].some((a) => /^\s*(javascript|vbscript|data):/i.test(a.value) && /href|src|action|xlink/i.test(a.name)),
        ).length,
        svg: readme.querySelectorAll("svg").length,
        text: readme.textContent.length,
      };
    });
    found[bypassCSP ? "withoutCsp" : "withCsp"] = { ...dom, events };
    await context.close();
  }
  return found;
}

/// Signs in by pasting an API token into the sign-in page.
async function tokenSignIn(page, token) {
  await go(page, `${plan.base}/signin`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${plan.base}/settings`), page.click("form[action='/signin'] button[type=submit]")]);
}

/// Signs in through the OpenID provider's own login and consent pages. `via`: "site" (the
/// sign-in page's provider button) or a team namespace (the team form).
async function oidcSignIn(page, via, login) {
  await go(page, `${plan.base}/signin`);
  if (via === "site") {
    await page.click("form[action='/signin/oidc'] button");
  } else {
    await page.fill("#team", via);
    await page.click("form[action='/signin/team'] button");
  }
  await page.waitForSelector("input[name=login]", { timeout: 10000 }).catch(async (e) => {
    const text = (await page.locator("body").textContent()).replace(/\s+/g, " ").slice(0, 300);
    throw new Error(`no login form at ${page.url()}: ${text}`);
  });
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", "any-password");
  await page.click("button[type=submit]");
  // The provider asks for consent once per client.
  await page.waitForURL((url) => url.pathname === "/settings" || url.pathname.startsWith("/interaction"));
  if (new URL(page.url()).pathname.startsWith("/interaction")) {
    await Promise.all([page.waitForURL(`${plan.base}/settings`), page.click("button[type=submit]")]);
  }
  check(new URL(page.url()).pathname === "/settings", `signing in ended at ${page.url()}`);
}

/// A person signs in through the site's provider, creates a token, stars a skill, sees a
/// private skill, and finds forged forms refused.
async function member(browser) {
  const { context, events } = await watchedContext(browser);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: plan.base });
  const page = await context.newPage();
  const found = { axe: {} };
  await oidcSignIn(page, "site", plan.login);
  found.user = (await page.locator("h1").textContent()).trim();
  await shot(page, "settings-desktop");
  found.axe.settings = await axe(page);

  // A token, shown once, copied "for your agent".
  await page.fill("form[action='/settings/tokens'] input[name=name]", "laptop");
  await page.selectOption("form[action='/settings/tokens'] select[name=scope]", "write");
  await page.selectOption("form[action='/settings/tokens'] select[name=expires_days]", "30");
  await page.click("form[action='/settings/tokens'] button[type=submit]");
  await page.waitForSelector("#secret");
  found.token = (await page.locator("#secret").textContent()).trim();
  await shot(page, "token-created-desktop");
  found.axe.tokenCreated = await axe(page);
  const agentCopy = page.locator("button[data-copy=agent]");
  await agentCopy.click();
  found.agentNote = await page.evaluate(() => navigator.clipboard.readText());

  // A star, with the skill page's button.
  await go(page, `${plan.base}${plan.skill}`);
  await Promise.all([page.waitForURL(`**${plan.skill}`), page.click("button[aria-pressed=false]")]);
  found.starredButton = (await page.locator("button[aria-pressed]").textContent()).trim();

  // The private skill of the team this person belongs to.
  const privatePage = await go(page, `${plan.base}${plan.private}`);
  found.privateStatus = privatePage.status();
  await shot(page, "private-skill-desktop");

  // Forged forms: the session cookie goes along, the form token does not (or the request
  // comes from another site). Each must be refused.
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const post = (url, form, headers = {}) =>
    page.request.post(`${plan.base}${url}`, { form, headers, maxRedirects: 0 }).then((r) => r.status());
  found.forged = {
    tokenWithoutCsrf: await post("/settings/tokens", { name: "forged", scope: "admin", kind: "standard", expires_days: "0" }),
    tokenWrongCsrf: await post("/settings/tokens", { csrf: "x".repeat(csrf.length), name: "forged", scope: "admin", kind: "standard", expires_days: "0" }),
    tokenOtherOrigin: await post("/settings/tokens", { csrf, name: "forged", scope: "admin", kind: "standard", expires_days: "0" }, { Origin: "https://evil.example" }),
    starWithoutCsrf: await post(`${plan.skill}/star`, { starred: "false" }),
    // A sign-in begun by another site (login forgery) does not begin.
    signinWithoutFormToken: await post("/signin/oidc", {}),
    teamSigninWithoutFormToken: await post("/signin/team", { namespace: "acme" }),
    signoutWithoutCsrf: await post("/signout", {}),
    logoutOtherOrigin: await page.request.post(`${plan.base}/v1/auth/logout`, { headers: { Origin: "https://evil.example" } }).then((r) => r.status()),
  };
  // Still signed in after all that.
  await go(page, `${plan.base}/settings`);
  found.stillSignedIn = (await page.locator("h1").textContent()).trim();

  await page.setViewportSize(PHONE);
  await go(page, `${plan.base}/settings`);
  await shot(page, "settings-phone");
  await fitsThePhone(page, "/settings");

  // Signing out through skill-pool's endpoint ends the session.
  found.logout = await page.request.post(`${plan.base}/v1/auth/logout`).then((r) => r.status());
  const after = await page.goto(`${plan.base}/settings`);
  found.afterLogout = new URL(page.url()).pathname;
  found.afterLogoutStatus = after.status();
  found.events = events;
  await context.close();
  return found;
}

/// Someone signs in through a team's own provider for the first time.
async function tenant(browser) {
  const { context, events } = await watchedContext(browser);
  const page = await context.newPage();
  await oidcSignIn(page, plan.tenant, plan.login);
  const found = { user: (await page.locator("h1").textContent()).trim() };
  const privatePage = await go(page, `${plan.base}${plan.private}`);
  found.privateStatus = privatePage.status();
  found.events = events;
  await context.close();
  return found;
}

/// An owner signs in with an API token and changes a member's role on the team page.
async function owner(browser) {
  const { context, events } = await watchedContext(browser);
  const page = await context.newPage();
  await tokenSignIn(page, plan.token);
  await go(page, `${plan.base}${plan.team}`);
  const form = page.locator("form[action$='/members']").filter({ has: page.locator(`input[name=username][value='${plan.member}']`) });
  await form.locator("select[name=role]").selectOption(plan.role);
  await Promise.all([page.waitForURL(`**${plan.team}`), form.locator("button[type=submit]").click()]);
  await shot(page, "team-owner-desktop");
  const found = { axe: { teamOwner: await axe(page) } };
  found.roleShown = await page
    .locator("form[action$='/members']")
    .filter({ has: page.locator(`input[name=username][value='${plan.member}']`) })
    .locator("select[name=role]")
    .inputValue();
  await go(page, `${plan.base}/admin/users`);
  await shot(page, "admin-users-desktop");
  found.axe.adminUsers = await axe(page);
  await go(page, `${plan.base}/admin/audit`);
  await shot(page, "admin-audit-desktop");
  found.axe.adminAudit = await axe(page);
  await go(page, `${plan.base}${plan.team}/drafts`);
  await shot(page, "drafts-desktop");
  found.axe.drafts = await axe(page);
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize(PHONE);
  await go(page, `${plan.base}${plan.team}`);
  await shot(page, "team-owner-phone-dark");
  found.axe.teamOwnerPhoneDark = await axe(page);
  await fitsThePhone(page, plan.team);
  found.events = events;
  await context.close();
  return found;
}

/// A site administrator sets the theme and uploads a logo on the theme page.
async function adminTheme(browser) {
  const { context, events } = await watchedContext(browser);
  const page = await context.newPage();
  await tokenSignIn(page, plan.token);
  await go(page, `${plan.base}/admin/theme`);
  const found = { axe: { adminTheme: await axe(page) } };
  const t = plan.theme;
  await page.fill("#brand_name", t.brand_name);
  for (const field of ["bg", "fg", "primary", "primary_fg", "accent", "muted", "muted_fg", "border"]) {
    await page.fill(`input[name=${field}]`, t[field]);
  }
  await page.fill("#radius", t.radius);
  await page.selectOption("#font_family", t.font_family);
  await page.setChecked("input[name=footer_branding]", t.footer_branding);
  await Promise.all([page.waitForURL(`${plan.base}/admin/theme`), page.click("form[action='/admin/theme'] button[type=submit]")]);
  await page.setInputFiles("form[action='/admin/theme/logo'] input[type=file]", {
    name: "logo.svg",
    mimeType: "image/svg+xml",
    buffer: Buffer.from(plan.svg),
  });
  await Promise.all([page.waitForURL(`${plan.base}/admin/theme`), page.click("form[action='/admin/theme/logo'] button[type=submit]")]);
  await shot(page, "admin-theme-desktop");
  found.axe.adminThemeAfter = await axe(page);
  found.preview = await page.locator("img[alt='The current logo']").evaluate((img) => img.complete && img.naturalWidth);
  found.events = events;
  await context.close();
  return found;
}

/// The site's theme on its pages, and its hostile logo doing nothing, even opened alone.
async function theme(browser) {
  const { context, events } = await watchedContext(browser);
  const page = await context.newPage();
  await go(page, `${plan.base}/`);
  const found = {
    background: await page.evaluate(() => getComputedStyle(document.body).backgroundColor),
    button: await page.evaluate(() => getComputedStyle(document.querySelector("form.search button")).backgroundColor),
    brand: (await page.locator(".brand").textContent()).trim(),
    title: await page.title(),
    logoWidth: await page.locator(".brand img").evaluate((img) => img.complete && img.naturalWidth),
    favicon: await page.locator("link[rel=icon]").getAttribute("href"),
    axe: { themedHome: await axe(page) },
  };
  await shot(page, "home-themed");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.reload();
  found.darkBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  found.axe.themedHomeDark = await axe(page);
  // The logo opened as a document of its own.
  const logo = await page.goto(`${plan.base}/v1/theme/logo`);
  await page.waitForTimeout(500);
  found.logoType = logo.headers()["content-type"];
  found.logoExecuted = await page.evaluate(() => window.__xss === true).catch(() => false);
  found.events = events;
  await context.close();
  return found;
}

const scenarios = { visitor, xss, member, tenant, owner, adminTheme, theme };
const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: plan.chromium || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const found = await run(browser);
  console.log(JSON.stringify(found));
} catch (e) {
  console.error(`${scenario}: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
