// Package idp starts a real identity provider for tests and demos: an LDAP
// directory (Debian's OpenLDAP slapd, in its own temporary cn=config and mdb
// database on a loopback port) holding AMP's example users and groups, fronted
// by an OpenID Connect provider (the certified npm library oidc-provider, run
// by node with provider.mjs) that authenticates users against the directory
// and puts their LDAP groups into the "groups" claim of the ID token.
//
// scripts/test-deps.sh installs slapd, ldap-utils and the npm packages (into
// .tmp/node-idp). Token logs a user in the way a browser would — the
// authorization-code flow with PKCE, the login form posted over HTTP — and
// returns the ID token.
package idp

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

//go:embed provider.mjs
var providerJS []byte

// User is a directory user.
type User struct {
	UID, Password, Name string
	// Groups are the LDAP groups (groupOfNames) the user is a member of.
	Groups []string
}

// DefaultUsers are the example users of docs/identity.md:
//
//	olivia   operator                 group AetherROCAdmin
//	alice    admin of enterprise acme group acme-admin
//	mallory  read-only member of starbucks  group starbucks
var DefaultUsers = []User{
	{UID: "olivia", Password: "olivia-pw", Name: "Olivia Operator", Groups: []string{"AetherROCAdmin"}},
	{UID: "alice", Password: "alice-pw", Name: "Alice Acme", Groups: []string{"acme-admin"}},
	{UID: "mallory", Password: "mallory-pw", Name: "Mallory Member", Groups: []string{"starbucks"}},
}

// Options configure Run. Zero values pick defaults.
type Options struct {
	Dir         string // working directory (default: a new temporary one)
	LDAPPort    int    // default: a free port
	IssuerPort  int    // default: a free port
	ClientID    string // default "amp"
	Users       []User // default DefaultUsers
	IDTokenTTL  time.Duration
	NodeModules string // directory holding node_modules (default <repo>/.tmp/node-idp or $AMP_IDP_NODE_DIR)
	// Log receives the processes' output (default: kept for error messages).
	Log io.Writer
	// RedirectURIs are registered for the client besides RedirectURI (a
	// browser client's callback, such as the portal's), and WebClient
	// registers it as a web application (an https redirect to a loopback
	// address is refused for a native one).
	RedirectURIs []string
	WebClient    bool
}

// IdP is a running directory and OIDC provider.
type IdP struct {
	Issuer      string // e.g. http://127.0.0.1:41234
	ClientID    string // the public client AMP verifies tokens for (audience)
	RedirectURI string // the client's (loopback) redirect URI

	LDAPURL       string // ldap://127.0.0.1:port
	BaseDN        string // dc=amp,dc=test
	AdminDN       string // cn=admin,dc=amp,dc=test
	AdminPassword string

	dir   string
	tmp   bool
	procs []proc
	// provider is the OIDC provider's process (also in procs).
	provider proc
	logMu    sync.Mutex
	logBuf   strings.Builder
	extLog   io.Writer
}

const baseDN = "dc=amp,dc=test"

// Start runs the directory and the provider for the duration of a test.
func Start(t testing.TB) (*IdP, error) {
	t.Helper()
	p, err := Run(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		return nil, err
	}
	t.Cleanup(p.Close)
	return p, nil
}

// Run starts slapd and the OIDC provider. Close stops both.
func Run(ctx context.Context, o Options) (_ *IdP, err error) {
	if o.ClientID == "" {
		o.ClientID = "amp"
	}
	if o.Users == nil {
		o.Users = DefaultUsers
	}
	if o.IDTokenTTL == 0 {
		o.IDTokenTTL = time.Hour
	}
	if o.NodeModules == "" {
		o.NodeModules = os.Getenv("AMP_IDP_NODE_DIR")
	}
	if o.NodeModules == "" {
		o.NodeModules = filepath.Join(repoRoot(), ".tmp", "node-idp")
	}
	p := &IdP{ClientID: o.ClientID, RedirectURI: "http://127.0.0.1/callback", BaseDN: baseDN,
		AdminDN: "cn=admin," + baseDN, AdminPassword: randHex(12), extLog: o.Log}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "amp-idp-"); err != nil {
			return nil, err
		}
		p.tmp = true
	}
	p.dir = o.Dir
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := checkTools(o.NodeModules); err != nil {
		return nil, err
	}
	if err := p.startLDAP(ctx, o); err != nil {
		return nil, err
	}
	if err := p.startProvider(ctx, o); err != nil {
		return nil, err
	}
	return p, nil
}

// checkTools says what is missing and how to install it.
func checkTools(nodeModules string) error {
	var missing []string
	for _, b := range []string{"/usr/sbin/slapd", "/usr/sbin/slapadd"} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b+" (Debian package slapd)")
		}
	}
	if _, err := exec.LookPath("ldapmodify"); err != nil {
		missing = append(missing, "ldapmodify (Debian package ldap-utils)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	for _, m := range []string{"oidc-provider", "ldapts"} {
		if _, err := os.Stat(filepath.Join(nodeModules, "node_modules", m, "package.json")); err != nil {
			missing = append(missing, "npm package "+m+" in "+nodeModules)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("idp: missing %s: run scripts/test-deps.sh", strings.Join(missing, ", "))
	}
	return nil
}

func (p *IdP) logWriter(prefix string) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		p.logMu.Lock()
		defer p.logMu.Unlock()
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l == "" {
				continue
			}
			p.logBuf.WriteString(prefix + l)
			if p.extLog != nil {
				_, _ = io.WriteString(p.extLog, prefix+l)
			}
		}
		return len(b), nil
	})
}

// proc is a started process and a channel closed when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(cmd *exec.Cmd) (proc, error) {
	if err := cmd.Start(); err != nil {
		return proc{}, err
	}
	pr := proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(pr.done) }()
	return pr, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// Log returns what slapd and the provider printed.
func (p *IdP) Log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.logBuf.String()
}

// ---- LDAP ----------------------------------------------------------------

func (p *IdP) userDN(uid string) string { return "uid=" + uid + ",ou=people," + baseDN }
func (p *IdP) groupDN(cn string) string { return "cn=" + cn + ",ou=groups," + baseDN }
func (p *IdP) ldapDir(n string) string  { return filepath.Join(p.dir, n) }
func ssha(pw string) string             { return sshaSalt(pw, []byte(randHex(4))) }
func sshaSalt(pw string, s []byte) string {
	h := sha1.New()
	h.Write([]byte(pw))
	h.Write(s)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), s...))
}

func (p *IdP) configLDIF() string {
	dir := p.ldapDir("ldap")
	return fmt.Sprintf(`dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid
olcArgsFile: %[1]s/slapd.args

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: %[1]s/data
olcSuffix: %[2]s
olcRootDN: %[3]s
olcRootPW: %[4]s
olcDbMaxSize: 67108864
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by users read by * none
`, dir, baseDN, p.AdminDN, ssha(p.AdminPassword))
}

func (p *IdP) dataLDIF(users []User) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: AMP example directory\ndc: amp\n\n", baseDN)
	fmt.Fprintf(&b, "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n", baseDN)
	fmt.Fprintf(&b, "dn: ou=groups,%s\nobjectClass: organizationalUnit\nou: groups\n\n", baseDN)
	members := map[string][]string{}
	var order []string
	for _, u := range users {
		parts := strings.Fields(u.Name)
		sn := u.UID
		if len(parts) > 0 {
			sn = parts[len(parts)-1]
		}
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@amp.test\nuserPassword: %s\n\n",
			p.userDN(u.UID), u.UID, u.Name, sn, u.UID, ssha(u.Password))
		for _, g := range u.Groups {
			if _, ok := members[g]; !ok {
				order = append(order, g)
			}
			members[g] = append(members[g], p.userDN(u.UID))
		}
	}
	for _, g := range order {
		fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: %s\n", p.groupDN(g), g)
		for _, m := range members[g] {
			fmt.Fprintf(&b, "member: %s\n", m)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (p *IdP) startLDAP(ctx context.Context, o Options) error {
	dir := p.ldapDir("ldap")
	// Generated afresh each time (a reused Options.Dir holds the last run's).
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, d := range []string{dir + "/slapd.d", dir + "/data"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	cfg, data := filepath.Join(dir, "config.ldif"), filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(cfg, []byte(p.configLDIF()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(data, []byte(p.dataLDIF(o.Users)), 0o600); err != nil {
		return err
	}
	for _, args := range [][]string{{"-n", "0", "-F", dir + "/slapd.d", "-l", cfg}, {"-n", "1", "-F", dir + "/slapd.d", "-l", data}} {
		if out, err := exec.CommandContext(ctx, "/usr/sbin/slapadd", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("idp: slapadd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var lastErr error
	for range 5 {
		port := o.LDAPPort
		if port == 0 {
			port = freePort()
		}
		p.LDAPURL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
		// -d 0: stay in the foreground (so Close can stop it) without debug output.
		cmd := exec.Command("/usr/sbin/slapd", "-d", "0", "-h", p.LDAPURL+"/", "-F", dir+"/slapd.d")
		cmd.Stdout, cmd.Stderr = p.logWriter("slapd: "), p.logWriter("slapd: ")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		pr, err := startProc(cmd)
		if err != nil {
			return fmt.Errorf("idp: start slapd: %w", err)
		}
		if err := waitTCP(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second, pr.done); err != nil {
			stop(pr)
			lastErr = fmt.Errorf("idp: slapd on %s: %v\n%s", p.LDAPURL, err, p.Log())
			if o.LDAPPort != 0 {
				break
			}
			continue
		}
		p.procs = append(p.procs, pr)
		// Prove the directory answers: the admin can search it.
		if _, err := p.ldap("ldapsearch", "-b", baseDN, "-s", "base", "dn"); err != nil {
			return err
		}
		return nil
	}
	return lastErr
}

// ldap runs an OpenLDAP client tool as the directory admin.
func (p *IdP) ldap(tool string, args ...string) (string, error) {
	return p.ldapIn(tool, "", args...)
}

func (p *IdP) ldapIn(tool, stdin string, args ...string) (string, error) {
	full := append([]string{"-x", "-H", p.LDAPURL, "-D", p.AdminDN, "-w", p.AdminPassword}, args...)
	cmd := exec.Command(tool, full...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("idp: %s: %v: %s", tool, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Modify applies an LDIF change (ldapmodify, as the directory admin).
func (p *IdP) Modify(ldif string) error {
	_, err := p.ldapIn("ldapmodify", ldif)
	return err
}

// AddToGroup makes uid a member of group, creating the group if needed.
func (p *IdP) AddToGroup(uid, group string) error {
	err := p.Modify(fmt.Sprintf("dn: %s\nchangetype: modify\nadd: member\nmember: %s\n", p.groupDN(group), p.userDN(uid)))
	if err != nil && strings.Contains(err.Error(), "No such object") {
		err = p.Modify(fmt.Sprintf("dn: %s\nchangetype: add\nobjectClass: groupOfNames\ncn: %s\nmember: %s\n", p.groupDN(group), group, p.userDN(uid)))
	}
	return err
}

// RemoveFromGroup removes uid from group (the group is deleted when it
// would be left without members, which groupOfNames does not allow).
func (p *IdP) RemoveFromGroup(uid, group string) error {
	err := p.Modify(fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: member\nmember: %s\n", p.groupDN(group), p.userDN(uid)))
	if err != nil && strings.Contains(err.Error(), "Object class violation") {
		err = p.Modify(fmt.Sprintf("dn: %s\nchangetype: delete\n", p.groupDN(group)))
	}
	return err
}

// ---- OIDC provider ---------------------------------------------------------

func (p *IdP) startProvider(ctx context.Context, o Options) error {
	sum := sha256.Sum256(providerJS)
	script := filepath.Join(o.NodeModules, "provider-"+hex.EncodeToString(sum[:6])+".mjs")
	if b, err := os.ReadFile(script); err != nil || string(b) != string(providerJS) {
		// Written next to node_modules so that node resolves the packages;
		// write-then-rename keeps concurrent test binaries safe.
		tmp := fmt.Sprintf("%s.%s.tmp", script, randHex(4))
		if err := os.WriteFile(tmp, providerJS, 0o644); err != nil {
			return fmt.Errorf("idp: %w", err)
		}
		if err := os.Rename(tmp, script); err != nil {
			return fmt.Errorf("idp: %w", err)
		}
	}
	var lastErr error
	for range 5 {
		port := o.IssuerPort
		if port == 0 {
			port = freePort()
		}
		p.Issuer = fmt.Sprintf("http://127.0.0.1:%d", port)
		appType := "native"
		if o.WebClient {
			appType = "web"
		}
		cmd := exec.Command("node", script)
		cmd.Env = append(os.Environ(),
			"IDP_ISSUER="+p.Issuer, fmt.Sprintf("IDP_PORT=%d", port),
			"IDP_CLIENT_ID="+p.ClientID, "IDP_REDIRECT_URIS="+strings.Join(append([]string{p.RedirectURI}, o.RedirectURIs...), " "),
			"IDP_APPLICATION_TYPE="+appType,
			fmt.Sprintf("IDP_ID_TOKEN_TTL=%d", int(o.IDTokenTTL.Seconds())),
			"LDAP_URL="+p.LDAPURL, "LDAP_BASE="+baseDN, "LDAP_ADMIN_DN="+p.AdminDN, "LDAP_ADMIN_PW="+p.AdminPassword,
			"NODE_ENV=production")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = p.logWriter("oidc-provider: ")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		pr, err := startProc(cmd)
		if err != nil {
			return fmt.Errorf("idp: start node: %w", err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			w := p.logWriter("oidc-provider: ")
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "ready ") {
					close(ready)
				}
				_, _ = w.Write([]byte(sc.Text() + "\n"))
			}
		}()
		select {
		case <-ready:
			p.procs = append(p.procs, pr)
			p.provider = pr
			return nil
		case <-pr.done:
			lastErr = fmt.Errorf("idp: oidc-provider exited: %v\n%s", pr.cmd.ProcessState, p.Log())
		case <-time.After(20 * time.Second):
			stop(pr)
			lastErr = fmt.Errorf("idp: oidc-provider not ready after 20s\n%s", p.Log())
		case <-ctx.Done():
			stop(pr)
			return ctx.Err()
		}
		if o.IssuerPort != 0 {
			break
		}
	}
	return lastErr
}

// Close stops the provider and the directory and removes a temporary dir.
func (p *IdP) Close() {
	for i := len(p.procs) - 1; i >= 0; i-- {
		stop(p.procs[i])
	}
	p.procs = nil
	if p.tmp {
		_ = os.RemoveAll(p.dir)
	}
}

// StopProvider stops the OIDC provider (the directory keeps running): for
// tests of AMP while its identity provider is down.
func (p *IdP) StopProvider() { stop(p.provider) }

// stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func stop(pr proc) {
	if pr.cmd == nil || pr.cmd.Process == nil {
		return
	}
	select {
	case <-pr.done:
		return
	default:
	}
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(5 * time.Second):
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
}

// ErrLoginFailed means the provider refused the user name or password.
var ErrLoginFailed = errors.New("login failed: invalid user or password")

// Token logs user in and returns their ID token; it fails the test on error.
func (p *IdP) Token(t testing.TB, user, password string) string {
	t.Helper()
	tok, err := p.Login(context.Background(), user, password)
	if err != nil {
		t.Fatalf("idp: login %s: %v", user, err)
	}
	return tok
}

// Login runs the authorization-code flow with PKCE as a browser would: the
// authorization request, the provider's login form posted with the user's
// LDAP password, the redirect to the client with a code, and the code
// exchanged at the token endpoint. It returns the ID token.
func (p *IdP) Login(ctx context.Context, user, password string) (string, error) {
	var disc struct {
		Auth  string `json:"authorization_endpoint"`
		Token string `json:"token_endpoint"`
	}
	if err := getJSON(ctx, p.Issuer+"/.well-known/openid-configuration", &disc); err != nil {
		return "", err
	}
	conf := &oauth2.Config{
		ClientID:    p.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: disc.Auth, TokenURL: disc.Token, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: p.RedirectURI,
		Scopes:      []string{"openid", "profile", "email", "groups"},
	}
	verifier := oauth2.GenerateVerifier()
	state, nonce := randHex(8), randHex(8)
	jar, _ := cookiejar.New(nil)
	redirect, _ := url.Parse(p.RedirectURI)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Host == redirect.Host && r.URL.Path == redirect.Path {
			return http.ErrUseLastResponse // the client's callback: stop here
		}
		if len(via) > 20 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
	resp, err := do(ctx, hc, "GET", authURL, nil)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="password"`) {
		return "", fmt.Errorf("idp: expected the login form, got %s at %s: %.300s", resp.Status, resp.Request.URL, body)
	}
	form := url.Values{"username": {user}, "password": {password}}
	resp, err = do(ctx, hc, "POST", resp.Request.URL.String()+"/login", form)
	if err != nil {
		return "", err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return "", ErrLoginFailed
	}
	loc, err := resp.Location()
	if err != nil || loc.Host != redirect.Host || loc.Path != redirect.Path {
		return "", fmt.Errorf("idp: login did not redirect to the client: %s: %.300s", resp.Status, body)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("idp: %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return "", errors.New("idp: state mismatch")
	}
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("idp: code exchange: %w", err)
	}
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		return "", errors.New("idp: no id_token in the token response")
	}
	return id, nil
}

func do(ctx context.Context, hc *http.Client, method, u string, form url.Values) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return hc.Do(req)
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("idp: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("idp: GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Claims decodes a JWT's payload without verifying it (tests inspect
// tokens that AMP verifies separately).
func Claims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// ---- helpers ------------------------------------------------------------------

func repoRoot() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(here), "..", "..", ".."))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitTCP(addr string, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("not listening after %s", d)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
