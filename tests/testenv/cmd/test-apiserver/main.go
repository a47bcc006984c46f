// Command test-apiserver runs a real kube-apiserver and an embedded etcd in one
// process, for pymetallb's end-to-end tests.
//
//	test-apiserver --data-dir DIR [--bind-address IP] [--port N] [--kubeconfig-out PATH] [-- kube-apiserver flags...]
//
// Everything that must survive a restart lives in --data-dir: the etcd data,
// the CA, the serving and admin certificates, the service-account key and the
// port that was used. A restart with the same --data-dir and --bind-address
// (and --port 0 or the same --port) therefore serves the same objects on the
// same URL with the same credentials, so a kubeconfig written earlier stays
// valid.
//
// --bind-address (default 127.0.0.1) is the one address kube-apiserver listens
// on and the host of the kubeconfig's server URL; a network namespace reaches
// the server through it (tests/netlab.py uplinks a namespace to 192.0.2.1).
// The serving certificate always names 127.0.0.1, ::1 and localhost, plus the
// bind address; a data dir whose certificate lacks the bind address gets a new
// serving certificate from the same CA, so the admin credentials stay valid.
//
// Once /readyz is ok and the "default" namespace exists, it writes an admin
// kubeconfig and prints one line on stdout:
//
//	READY kubeconfig=PATH server=https://BIND-ADDRESS:PORT
//
// (an IPv6 bind address is bracketed: https://[2001:db8::1]:PORT).
//
// SIGTERM or SIGINT shuts kube-apiserver down gracefully, then etcd; the exit
// status is 0 after a clean shutdown. With --exit-on-stdin-eof the end of stdin
// does the same, so a parent that dies (and with it the pipe) takes the server
// along. Logs go to stderr.
//
// Besides kube-apiserver it runs the namespace controller (normally part of
// kube-controller-manager), so deleted namespaces really go away. No other
// controllers run: no garbage collector, no service-account tokens, no
// scheduler and no nodes.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
)

const (
	// ServiceCIDR is the service cluster IP ranges of the test apiserver: dual-stack, IPv4 first (the
	// default family), so examples with RequireDualStack Services apply as they would on a dual-stack cluster.
	// An IPv6 service range may be at most a /108.
	serviceCIDR = "10.96.0.0/16,fd00::/108"
	// firstServiceIP is the ClusterIP of the "kubernetes" Service, which is
	// put into the serving certificate.
	firstServiceIP = "10.96.0.1"
	// readyTimeout bounds how long we wait for /readyz after start.
	readyTimeout = 2 * time.Minute
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		dataDir        string
		bindAddress    string
		kubeconfigOut  string
		port           int
		etcdLogLevel   string
		readyTimeoutFl time.Duration
		stdinEOF       bool
	)
	fs := flag.NewFlagSet("test-apiserver", flag.ContinueOnError)
	fs.StringVar(&dataDir, "data-dir", "", "directory for etcd data, certificates and keys (required; kept across restarts)")
	fs.StringVar(&kubeconfigOut, "kubeconfig-out", "", "write an admin kubeconfig here (default DATA-DIR/kubeconfig)")
	fs.StringVar(&bindAddress, "bind-address", "127.0.0.1",
		"the IP address to serve on and to put in the kubeconfig (must be an address of this host; not 0.0.0.0 or ::)")
	fs.IntVar(&port, "port", 0, "HTTPS port on the bind address; 0 reuses the port recorded in DATA-DIR, else picks a free one")
	fs.StringVar(&etcdLogLevel, "etcd-log-level", "error", "log level of the embedded etcd")
	fs.DurationVar(&readyTimeoutFl, "ready-timeout", readyTimeout, "give up if not ready after this long")
	fs.BoolVar(&stdinEOF, "exit-on-stdin-eof", false,
		"shut down (as on SIGTERM) when stdin closes, i.e. when the parent holding the pipe dies")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: test-apiserver --data-dir DIR [flags] [-- kube-apiserver flags...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	extraArgs := fs.Args()
	if dataDir == "" {
		fs.Usage()
		return 2
	}
	bindIP := net.ParseIP(bindAddress)
	if bindIP == nil || bindIP.IsUnspecified() {
		fmt.Fprintf(os.Stderr, "test-apiserver: --bind-address %q: want one IP address of this host "+
			"(it becomes the kubeconfig's server URL, so 0.0.0.0 and :: are refused)\n", bindAddress)
		return 2
	}
	bindAddress = bindIP.String() // canonical form: the URL and the certificate agree
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return fail(err)
	}
	if kubeconfigOut == "" {
		kubeconfigOut = filepath.Join(dataDir, "kubeconfig")
	}
	if kubeconfigOut, err = filepath.Abs(kubeconfigOut); err != nil {
		return fail(err)
	}

	// NewAPIServerCommand installs the SIGTERM/SIGINT handler (its context is
	// cancelled on the first signal, the second one exits hard). Create it
	// first so a signal during etcd start-up is handled the same way.
	cmd := app.NewAPIServerCommand()
	ctx := cmd.Context()
	if stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			klog.Info("test-apiserver: stdin closed, shutting down")
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fail(err)
	}
	// The port first: it proves the bind address is ours before the pki is
	// touched for it.
	port, err = choosePort(dataDir, bindAddress, port)
	if err != nil {
		return fail(err)
	}
	pki, err := ensurePKI(filepath.Join(dataDir, "pki"), bindIP)
	if err != nil {
		return fail(fmt.Errorf("pki: %w", err))
	}

	etcd, etcdURL, err := startEtcd(filepath.Join(dataDir, "etcd"), etcdLogLevel)
	if err != nil {
		return fail(fmt.Errorf("etcd: %w", err))
	}
	defer func() {
		etcd.Close()
		klog.Info("test-apiserver: etcd stopped")
	}()

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + bindAddress,
		"--advertise-address=" + bindAddress,
		"--secure-port=" + strconv.Itoa(port),
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + pki.dir,
		"--tls-cert-file=" + pki.path("apiserver.crt"),
		"--tls-private-key-file=" + pki.path("apiserver.key"),
		"--client-ca-file=" + pki.path("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.path("sa.pub"),
		"--service-account-signing-key-file=" + pki.path("sa.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--enable-admission-plugins=NamespaceLifecycle,LimitRanger,DefaultTolerationSeconds," +
			"MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota",
		// No controller creates the "default" ServiceAccount or its tokens here.
		"--disable-admission-plugins=ServiceAccount",
		// Stop within ~2s even with watches open (by default the HTTP server
		// waits up to --request-timeout, 60s, for long-running requests).
		"--shutdown-send-retry-after=true",
		"--profiling=false",
		"--event-ttl=1h",
	}
	args = append(args, extraArgs...)
	cmd.SetArgs(args)

	errCh := make(chan error, 1)
	go func() { errCh <- cmd.Execute() }()

	server := "https://" + net.JoinHostPort(bindAddress, strconv.Itoa(port))
	restCfg := &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   pki.caPEM,
			CertData: pki.adminCertPEM,
			KeyData:  pki.adminKeyPEM,
		},
		QPS:   200,
		Burst: 400,
	}
	start := time.Now()
	readyCtx, cancelReady := context.WithTimeout(ctx, readyTimeoutFl)
	err = waitReady(readyCtx, restCfg, errCh)
	cancelReady()
	if err != nil {
		if ctx.Err() != nil { // signalled while starting
			return waitStopped(errCh)
		}
		klog.Errorf("test-apiserver: not ready: %v", err)
		select {
		case e := <-errCh:
			return fail(fmt.Errorf("kube-apiserver exited: %v", e))
		default:
			return 1
		}
	}

	if err := startNamespaceController(ctx, restCfg); err != nil {
		klog.Errorf("test-apiserver: namespace controller: %v", err)
	}
	if err := writeKubeconfig(kubeconfigOut, server, pki); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "port"), []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
		return fail(err)
	}
	klog.Infof("test-apiserver: ready after %s", time.Since(start).Round(time.Millisecond))
	fmt.Printf("READY kubeconfig=%s server=%s\n", kubeconfigOut, server)
	_ = os.Stdout.Sync()

	return waitStopped(errCh)
}

func waitStopped(errCh <-chan error) int {
	err := <-errCh
	if err != nil {
		klog.Errorf("test-apiserver: kube-apiserver: %v", err)
		return 1
	}
	klog.Info("test-apiserver: kube-apiserver stopped")
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "test-apiserver: %v\n", err)
	return 1
}

// choosePort returns the port to serve on: the one asked for, else the one
// recorded in the data dir by a previous run (if it is free on host), else a
// free one. It also proves that host is an address of this machine, with a
// message that says so, before kube-apiserver fails on it less clearly.
func choosePort(dataDir, host string, port int) (int, error) {
	free, err := freePortOn(host)
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return 0, fmt.Errorf("--bind-address %s is not an address of this host (add it first, "+
				"e.g. `ip addr add %s/32 dev lo`): %w", host, host, err)
		}
		return 0, err
	}
	if port != 0 {
		return port, nil
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "port")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
			if l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				_ = l.Close()
				return p, nil
			}
		}
	}
	return free, nil
}

func freePort() (int, error) { return freePortOn("127.0.0.1") }

func freePortOn(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd runs a single-member etcd on loopback with its data in dir.
// Client and peer ports are picked afresh at each start; kube-apiserver is the
// only client and a single member never dials its peer URL.
func startEtcd(dir, logLevel string) (*embed.Etcd, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}

	cfg := embed.NewConfig()
	cfg.Name = "test-apiserver"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Test data: durability against power loss is not needed, speed is.
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = logLevel
	if _, err := zapcore.ParseLevel(logLevel); err != nil {
		return nil, "", fmt.Errorf("--etcd-log-level: %w", err)
	}
	cfg.LogOutputs = []string{"stderr"}
	// Keep the data dir small over long sessions.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, "", errors.New("etcd took too long to start")
	}
	return e, clientURL.String(), nil
}

// waitReady polls /readyz until it is ok, then waits for the "default"
// namespace, which the apiserver's system-namespaces controller creates.
func waitReady(ctx context.Context, cfg *rest.Config, errCh <-chan error) error {
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return err
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	defer httpClient.CloseIdleConnections()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	readyz := false
	var last error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case err := <-errCh:
			return fmt.Errorf("kube-apiserver exited: %v", err)
		case <-tick.C:
		}
		if !readyz {
			resp, err := httpClient.Get(cfg.Host + "/readyz")
			if err != nil {
				last = err
				continue
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				last = fmt.Errorf("/readyz: %s", resp.Status)
				continue
			}
			readyz = true
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{}); err != nil {
			last = err
			continue
		}
		return nil
	}
}

func startNamespaceController(ctx context.Context, cfg *rest.Config) error {
	nsCfg := rest.CopyConfig(cfg)
	nsCfg.UserAgent = "test-apiserver/namespace-controller"
	cs, err := kubernetes.NewForConfig(nsCfg)
	if err != nil {
		return err
	}
	md, err := metadata.NewForConfig(nsCfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(cs, 5*time.Minute)
	nc := namespacecontroller.NewNamespaceController(
		ctx, cs, md,
		cs.Discovery().ServerPreferredNamespacedResources,
		factory.Core().V1().Namespaces(),
		5*time.Minute,
		corev1.FinalizerKubernetes,
	)
	factory.Start(ctx.Done())
	go nc.Run(ctx, 4)
	return nil
}

func writeKubeconfig(path, server string, p *pkiFiles) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test-apiserver"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCertPEM, ClientKeyData: p.adminKeyPEM}
	cfg.Contexts["test-apiserver"] = &clientcmdapi.Context{Cluster: "test-apiserver", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "test-apiserver"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ---- certificates ----------------------------------------------------------

type pkiFiles struct {
	dir                       string
	caPEM                     []byte
	adminCertPEM, adminKeyPEM []byte
}

func (p *pkiFiles) path(name string) string { return filepath.Join(p.dir, name) }

// ensurePKI creates, once, a CA, a serving certificate for 127.0.0.1/localhost
// and bindIP, an admin client certificate (group system:masters) and a
// service-account signing key. Later starts reuse them; only the serving
// certificate is issued again (by the same CA) when it does not name bindIP,
// so a kubeconfig written for another bind address keeps working credentials.
func ensurePKI(dir string, bindIP net.IP) (*pkiFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pkiFiles{dir: dir}
	complete := true
	for _, f := range []string{"ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub"} {
		if _, err := os.Stat(p.path(f)); err != nil {
			complete = false
		}
	}
	if !complete {
		if err := generatePKI(p, bindIP); err != nil {
			return nil, err
		}
	}
	if err := ensureServingCertFor(p, bindIP); err != nil {
		return nil, err
	}
	var err error
	if p.caPEM, err = os.ReadFile(p.path("ca.crt")); err != nil {
		return nil, err
	}
	if p.adminCertPEM, err = os.ReadFile(p.path("admin.crt")); err != nil {
		return nil, err
	}
	if p.adminKeyPEM, err = os.ReadFile(p.path("admin.key")); err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(p.adminCertPEM, p.adminKeyPEM); err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	return p, nil
}

func generatePKI(p *pkiFiles, bindIP net.IP) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now, notAfter := validity()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "test-apiserver-ca"},
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	ca := &certAuthority{cert: caCert, key: caKey}

	if err := ca.issue(p, "apiserver", servingTemplate(bindIP)); err != nil {
		return err
	}
	if err := ca.issue(p, "admin", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(p.path("sa.key"), saKey); err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return err
	}
	if err := writePEM(p.path("sa.pub"), "PUBLIC KEY", saPub); err != nil {
		return err
	}
	if err := writeKey(p.path("ca.key"), caKey); err != nil {
		return err
	}
	// ca.crt last: its presence marks a complete set.
	return writePEM(p.path("ca.crt"), "CERTIFICATE", caDER)
}

// validity is the lifetime of every certificate issued here: from an hour ago
// (clock skew between processes does not matter on one host, but costs
// nothing) for ten years (test data dirs are kept across restarts).
func validity() (time.Time, time.Time) {
	now := time.Now().Add(-time.Hour)
	return now, now.Add(10 * 365 * 24 * time.Hour)
}

// servingTemplate is the serving certificate's identity: loopback (v4 and v6),
// the "kubernetes" Service's ClusterIP and names, and the bind address.
func servingTemplate(bindIP net.IP) *x509.Certificate {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(firstServiceIP)}
	if !containsIP(ips, bindIP) {
		ips = append(ips, bindIP)
	}
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	}
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// issue writes name.crt and name.key, a fresh P-256 key and a certificate for
// tmpl signed by the CA.
func (ca *certAuthority) issue(p *pkiFiles, name string, tmpl *x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = validity()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return err
	}
	// Key first, certificate last, each replaced atomically: a crash in
	// between leaves a certificate that does not match its key, which the
	// next start detects (tls.X509KeyPair) and repairs by issuing again.
	if err := writeKey(p.path(name+".key"), key); err != nil {
		return err
	}
	return writePEM(p.path(name+".crt"), "CERTIFICATE", der)
}

// ensureServingCertFor issues the serving certificate again, from the CA in
// p.dir, when the one on disk does not name bindIP (a data dir made for
// another --bind-address) or does not match its key.
func ensureServingCertFor(p *pkiFiles, bindIP net.IP) error {
	pair, err := tls.LoadX509KeyPair(p.path("apiserver.crt"), p.path("apiserver.key"))
	if err == nil {
		leaf, perr := x509.ParseCertificate(pair.Certificate[0])
		if perr == nil && leaf.VerifyHostname(bindIP.String()) == nil {
			return nil
		}
	}
	caPair, err := tls.LoadX509KeyPair(p.path("ca.crt"), p.path("ca.key"))
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	caKey, ok := caPair.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("CA: key cannot sign")
	}
	klog.Infof("test-apiserver: issuing a new serving certificate that names %s", bindIP)
	ca := &certAuthority{cert: caCert, key: caKey}
	return ca.issue(p, "apiserver", servingTemplate(bindIP))
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

// writePEM replaces path atomically (write a temporary file, rename it).
func writePEM(path, typ string, der []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
