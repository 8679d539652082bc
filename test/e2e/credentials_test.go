package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/superd/superd/ipc/apitype"
)

// crSecret is what the credential files hold; it must show up nowhere but
// in the copies superd makes for the child.
const crSecret = "s3cr3t-7f9e1c-TOKEN"

// crScript prints the sha256 of the credential api_key as the child sees
// it (so the secret itself never reaches the output), the uid it runs as,
// then runs on as a sleep.
const crScript = `sha=$(sha256sum < "$CREDENTIALS_DIRECTORY/api_key" | cut -d' ' -f1) && echo "sha=$sha uid=$(id -u)"; exec /bin/sleep 1000`

// crRotated is the secret after the source file changed.
const crRotated = "rotated-0c4b2a-TOKEN"

func crSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// crEnv makes an env whose folder a program running as nobody can
// traverse (it reaches its credentials under state_dir), with the secret
// in dir/secret, readable by root alone.
func crEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	if err := os.Chmod(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := e.writeFile("secret", crSecret)
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatal(err)
	}
	return e, secret
}

func TestCredentialsPrivateCopy(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the program as nobody")
	}
	e, secret := crEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[program.cred]
command = ["/bin/sh", "-c", %q]
user = "nobody"
credentials = { api_key = %q }
start_seconds = "0s"
`, crScript, secret))
	d := e.start(opts{extraArgs: []string{"--log-level", "debug"}})
	pid := d.waitRunning(10*time.Second, "cred")[0]
	logFile := filepath.Join(e.logDir, "cred.log")
	nobody := "65534"
	out := waitFileContains(t, 10*time.Second, logFile, "uid=")
	if want := "sha=" + crSum(crSecret) + " uid=" + nobody; !strings.Contains(out, want) {
		t.Fatalf("cred's output %q; want %q: the child, as nobody, reads the secret in $CREDENTIALS_DIRECTORY/api_key", out, want)
	}

	envm := envMap(procEnviron(t, pid))
	dir := envm["CREDENTIALS_DIRECTORY"]
	if want := filepath.Join(e.stateDir, "credentials", "cred"); dir != want {
		t.Errorf("CREDENTIALS_DIRECTORY = %q; want %q", dir, want)
	}
	crWantPerm(t, dir, 0o500|os.ModeDir, 65534)
	crWantPerm(t, filepath.Join(dir, "api_key"), 0o400, 65534)
	if b, err := os.ReadFile(filepath.Join(dir, "api_key")); err != nil || string(b) != crSecret {
		t.Errorf("the copy holds %q (%v); want the secret", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%s holds %d entries; want api_key alone", dir, len(ents))
	}

	// The secret goes nowhere else.
	crNowhere(t, d, pid)

	// Copied at every start: a changed source is seen by the next start.
	rotated := crRotated
	if err := os.WriteFile(secret, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	d.mustCtl("restart", "cred")
	pid2 := d.waitRunning(10*time.Second, "cred")[0]
	waitFileContains(t, 10*time.Second, logFile, "sha="+crSum(rotated))
	crNowhere(t, d, pid2)

	// Removed when the process stops.
	d.mustCtl("stop", "cred")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after superctl stop: %v; want it removed", dir, err)
	}
	if strings.Contains(d.stderr.String(), rotated) {
		t.Errorf("superd's log shows the rotated secret")
	}

	// ... and when superd's drain stops it.
	d.mustCtl("start", "cred")
	d.waitRunning(10*time.Second, "cred")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("%s after superctl start: %v", dir, err)
	}
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("superd after SIGTERM = exit %d", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after superd drained: %v; want it removed", dir, err)
	}
}

// crWantPerm checks the mode and owner of path.
func crWantPerm(t *testing.T, path string, mode os.FileMode, uid uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("stat %s: %v", path, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || st.Uid != uid {
		t.Errorf("%s: mode %v, uid %d; want %v, uid %d", path, fi.Mode(), st.Uid, mode, uid)
	}
}

// crNowhere checks that neither pid's environment nor its argv, nor
// superd's log, nor status and jobs output hold the secret.
func crNowhere(t *testing.T, d *daemon, pid int) {
	t.Helper()
	for _, where := range []struct {
		name string
		text string
	}{
		{fmt.Sprintf("/proc/%d/environ", pid), strings.Join(procEnviron(t, pid), "\n")},
		{fmt.Sprintf("/proc/%d/cmdline", pid), strings.Join(procCmdline(t, pid), " ")},
		{"superd's stderr", d.stderr.String()},
		{"superd's stdout", d.stdout.String()},
		{"superctl status -o json", d.mustCtl("status", "-o", "json")},
		{"superctl status", d.mustCtl("status")},
		{"superctl jobs -o json", d.mustCtl("jobs", "-o", "json")},
	} {
		if strings.Contains(where.text, crSecret) || strings.Contains(where.text, crRotated) {
			t.Errorf("%s holds the secret: %q", where.name, tail(where.text, 400))
		}
	}
}

func TestCredentialsJob(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the job as nobody")
	}
	e, secret := crEnv(t)
	e.writeConfig("", fmt.Sprintf(`
[job.credjob]
command = ["/bin/sh", "-c", "sha256sum < \"$CREDENTIALS_DIRECTORY/api_key\"; id -u"]
user = "nobody"
credentials = { api_key = %q }
`, secret))
	d := e.start(opts{extraArgs: []string{"--log-level", "debug"}})
	id := d.jbStart("credjob")
	r := d.jbWaitState(id, apitype.RunSucceeded, 10*time.Second)
	if s := readFile(t, r.Log); !strings.Contains(s, crSum(crSecret)) || !strings.Contains(s, "65534") {
		t.Errorf("%s log = %q; want the secret's sha256 as read by nobody", id, s)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "credentials", id)); !os.IsNotExist(err) {
		t.Errorf("credentials of the ended run %s: %v; want them removed", id, err)
	}
	for name, text := range map[string]string{
		"superd's stderr":       d.stderr.String(),
		"superctl jobs -o json": d.mustCtl("jobs", "-o", "json"),
	} {
		if strings.Contains(text, crSecret) {
			t.Errorf("%s holds the secret", name)
		}
	}
}

func TestCredentialsMissingSourceFailsStart(t *testing.T) {
	t.Parallel()
	e, secret := crEnv(t)
	missing := e.path("nosuch")
	e.writeConfig("", fmt.Sprintf(`
[program.miss]
command = ["/bin/sleep", "1000"]
credentials = { a_present = %q, b_missing = %q }
start_retries = 1
backoff_initial = "50ms"
`, secret, missing))
	d := e.start(opts{extraArgs: []string{"--log-level", "debug"}})
	in := d.waitState("miss", apitype.StateFatal, 15*time.Second)
	if !strings.Contains(in.Message, "b_missing") || !strings.Contains(in.Message, "no such file") {
		t.Errorf("miss message = %q; want it to name the credential b_missing and say why", in.Message)
	}
	if in.Pid != nil {
		t.Errorf("miss = %s; want no process", describe(in))
	}
	for name, text := range map[string]string{
		"status message":  in.Message,
		"superd's stderr": d.stderr.String(),
	} {
		if strings.Contains(text, crSecret) {
			t.Errorf("%s holds the content of the credential that was read: %q", name, text)
		}
	}
	// The half-made copy is not left behind.
	if _, err := os.Stat(filepath.Join(e.stateDir, "credentials", "miss")); !os.IsNotExist(err) {
		t.Errorf("credentials of miss after the failed start: %v; want none", err)
	}
	// superctl start says so too, exit 1.
	_, errOut, code := d.ctl("start", "miss")
	if code != 1 || !strings.Contains(errOut, "b_missing") {
		t.Errorf("superctl start miss = exit %d, %q; want exit 1 naming b_missing", code, errOut)
	}
}
