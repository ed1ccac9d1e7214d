"""Resumable and split runs: a run stopped by a signal or killed continues
from its checkpoint and ends with the outputs of an uninterrupted run; the
chunks of a split run merge into those same outputs; bad checkpoints and
bad chunks are refused with one line naming the file and the problem."""
import os
import shutil
import signal
import struct
import subprocess
import time

import h5py
import numpy as np

from wsctest import WSC, Failure, check, main, make_model, read_summary, run_wsc, write_config
from wsctest import MPIEXEC, mpiexec, session_members

EXIT_RESUMABLE = 75
OUTPUTS = ("wsc.csv", "probes.csv", "summary.json", "results.h5", "wsc_k.csv")
# k-sensitivity rides along (k = 2, 5, d and no projection): chunks,
# checkpoints and merges carry its counts.
MODEL_NAME = "fixture"
# Enough work to be interrupted mid-way (a few seconds), in many small rounds
# (batches of 16 heads) so that the state is saved often.
EXTRA = ("\n[encodability]\npermutations = 20\n\n[bootstrap]\ncount = 40\n\n"
         "[parallel]\nbatch = 16\n\n[checkpoint]\ninterval = 0.2\n")


# --- fixtures ---------------------------------------------------------------

def fixture(tmp, permutations, out="out", config="c.toml", seed=3, model="model.h5", n=1500, d=24):
    """A model (made once per folder) and a config; returns (config path, output folder)."""
    path = os.path.join(tmp, model)
    if not os.path.exists(path):
        make_model(path, n=n, d=d, seed=11)
    out_dir = os.path.join(tmp, out)
    cfg = write_config(os.path.join(tmp, config), path, out_dir, permutations=permutations, extra=EXTRA,
                       sensitivity=(2, 5, d, 0))
    if seed != 3:
        with open(cfg) as f:
            text = f.read()
        check("seed = 3\n" in text, "the config template changed: no 'seed = 3'")
        with open(cfg, "w") as f:
            f.write(text.replace("seed = 3\n", "seed = %d\n" % seed))
    return cfg, out_dir


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def progress_of(path, cfg):
    """(permutations, encodability, bootstrap) done in a checkpoint or chunk
    file, each as (done, begin, end). The payload is a binary archive whose
    RunState starts with the fingerprint, the description (model and config
    path, length-prefixed), three index ranges and three counts done."""
    data = read_bytes(path)
    check(data[:8] == b"WSCCKPT1", "%s does not start like a checkpoint" % path)
    payload = data[28:]
    description = ("%s (%s)" % (MODEL_NAME, cfg)).encode()
    at = payload.find(description)
    check(at >= 8, "%s: description %r not found in the payload" % (path, description))
    check(struct.unpack_from("<Q", payload, at - 8)[0] == len(description), "description length prefix")
    v = struct.unpack_from("<9q", payload, at + len(description))
    return {"permutations": (v[6], v[0], v[1]), "encodability": (v[7], v[2], v[3]),
            "bootstrap": (v[8], v[4], v[5])}


def perms_done(path, cfg):
    return progress_of(path, cfg)["permutations"][0]


def outputs_in(out_dir):
    return [f for f in OUTPUTS if os.path.exists(os.path.join(out_dir, f))]


def temporaries_in(folder):
    return [f for f in os.listdir(folder) if ".tmp." in f] if os.path.isdir(folder) else []


def same_outputs(out_dir, reference, what):
    names = ["wsc.csv", "probes.csv"]
    if os.path.exists(os.path.join(reference, "wsc_k.csv")):
        names.append("wsc_k.csv")
    for name in names:
        check(read_bytes(os.path.join(out_dir, name)) == read_bytes(os.path.join(reference, name)),
              "%s: %s differs from the uninterrupted run's" % (what, name))


def same_datasets(out_dir, reference, what, names):
    with h5py.File(os.path.join(out_dir, "results.h5"), "r") as a, \
            h5py.File(os.path.join(reference, "results.h5"), "r") as b:
        for name in names:
            check(name in a and name in b, "%s: results.h5 lacks %s" % (what, name))
            x, y = a[name][()], b[name][()]
            check(x.shape == y.shape and np.array_equal(x, y),
                  "%s: %s differs (shapes %s, %s)" % (what, name, x.shape, y.shape))


def randomised_datasets(reference):
    names = ["/null/max_abs_cos", "/null/abs_cos", "/bootstrap/cos"]
    with h5py.File(os.path.join(reference, "results.h5"), "r") as f:
        if "sensitivity" in f:
            names += ["/sensitivity/null_max_abs_cos"]
            names += ["/sensitivity/%s/%s" % (t, v) for t in f["sensitivity"].keys() if isinstance(f["sensitivity"][t], h5py.Group)
                      for v in ("p_perm", "p_fwer", "q_fdr")]
        names += ["/encodability/%s/null_auroc_macro" % t for t in f["encodability"].keys()]
    return names


def one_error_line(proc, *words):
    """Exit status 1 and exactly one 'wsc: error:' line holding every word."""
    lines = [l for l in proc.stderr.splitlines() if l.startswith("wsc: error:")]
    check(proc.returncode == 1 and len(lines) == 1,
          "expected exit 1 and one error line, got %d and:\n%s" % (proc.returncode, proc.stderr))
    for w in words:
        check(w in lines[0], "the error does not say %r: %s" % (w, lines[0]))
    return lines[0]


# --- running in the background ----------------------------------------------

def start(args, ranks):
    """wsc in its own session (ranks == 0: alone, else under mpiexec)."""
    cmd = [WSC] + list(args)
    if ranks:
        cmd = mpiexec(ranks) + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    proc.cmd = cmd
    proc.started = time.time()
    return proc


def finish(proc, timeout=300):
    proc.stdout_text, proc.stderr_text = proc.communicate(timeout=timeout)
    proc.seconds = time.time() - proc.started
    return proc


def children(pid):
    kids = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def ranks_of(pid):
    """The wsc processes started by mpiexec `pid`: its children under Open MPI,
    its grandchildren (under hydra_pmi_proxy) under MPICH."""
    exe = os.path.realpath(WSC)
    found, todo = [], children(pid)
    while todo:
        kid = todo.pop()
        try:
            if os.path.realpath("/proc/%d/exe" % kid) == exe:
                found.append(kid)
                continue
        except OSError:
            continue
        todo += children(kid)
    return found


def kill_session(proc):
    """SIGKILL to the mpiexec process group and to every process of its session."""
    members = session_members(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in members + session_members(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    finish(proc)
    deadline = time.time() + 30
    while session_members(proc.pid) and time.time() < deadline:
        time.sleep(0.05)
    check(not session_members(proc.pid), "processes of the killed run are still alive")


def wait_for(proc, path, cfg, at_least, timeout=120):
    """Polls the state file until its permutations done reach `at_least`;
    returns that count. Fails when the run ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise Failure("the run ended (%s) before reaching %d permutations:\n%s"
                          % (proc.returncode, at_least, proc.communicate()[1]))
        if os.path.exists(path):
            try:
                done = perms_done(path, cfg)
            except OSError:
                done = -1
            if done >= at_least:
                return done
        time.sleep(0.01)
    raise Failure("no state with %d permutations done in %s after %d s" % (at_least, path, timeout))


def watch_until_done(proc, path, cfg, timeout=300):
    """Runs `proc` to its end while recording the permutations done in every
    state file seen (the file is replaced atomically, so reads are whole)."""
    seen = []
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            done = perms_done(path, cfg)
            if not seen or seen[-1] != done:
                seen.append(done)
        except (OSError, Failure):
            pass
        time.sleep(0.01)
    finish(proc)
    return seen


def interrupt(proc, how):
    """Stops a running mpiexec: 'term' and 'usr1' signal mpiexec itself,
    'ranks' sends SIGTERM to each rank."""
    if how == "term":
        proc.send_signal(signal.SIGTERM)
    elif how == "usr1":
        proc.send_signal(signal.SIGUSR1)
    else:
        kids = ranks_of(proc.pid)
        check(kids, "no rank processes under mpiexec %d" % proc.pid)
        for pid in kids:
            os.kill(pid, signal.SIGTERM)
    return finish(proc)


def stop_message(state, signum=signal.SIGTERM):
    return ("wsc: stopped by signal %d; state saved to %s; run the same command again to continue"
            % (signum, state))


def check_stopped(proc, out_dir, state, what, status=None, signum=signal.SIGTERM):
    check(stop_message(state, signum) in proc.stderr_text,
          "%s: no stop message (exit %d):\n%s" % (what, proc.returncode, proc.stderr_text))
    if isinstance(status, tuple):
        check(proc.returncode in status, "%s: exit status %d, expected one of %s" % (what, proc.returncode, status))
    elif status is not None:
        check(proc.returncode == status, "%s: exit status %d, expected %d" % (what, proc.returncode, status))
    else:
        check(proc.returncode != 0, "%s: a stopped run must not exit 0" % what)
    check(os.path.exists(state), "%s: no state at %s" % (what, state))
    check(not outputs_in(out_dir), "%s: outputs written by a stopped run: %s" % (what, outputs_in(out_dir)))
    check(not temporaries_in(os.path.dirname(state)), "%s: temporary files left: %s"
          % (what, temporaries_in(os.path.dirname(state))))


# --- tests --------------------------------------------------------------------

def test_chunks_merge(tmp):
    """Chunks run at 3 ranks, alone and at 2 ranks merge into the outputs of
    the whole run (every rank its own group here, so the same batches in the
    same order): wsc.csv and probes.csv byte for byte, the randomised
    datasets of results.h5 exactly."""
    cfg, split = fixture(tmp, permutations=1000)
    whole = os.path.join(tmp, "whole")
    run_wsc(["run", cfg, "-q", "--set", "output.dir=" + whole], ranks=2)
    layout = read_summary(whole)["layout"]
    check(layout["groups"] == 2 and layout["ranks_per_group"] == 1,
          "small data at 2 ranks: one rank per group expected, layout %s" % layout)
    chunks = os.path.join(split, "chunks")
    chunk = [os.path.join(chunks, "chunk-%d-of-3.wsc" % i) for i in range(3)]
    t0 = time.time()
    for i, ranks in ((0, 3), (1, 0), (2, 2)):
        proc = run_wsc(["run", cfg, "--chunk", "%d/3" % i], ranks=ranks)
        check("completed chunk %d of 3: %s" % (i, chunk[i]) in proc.stdout, "chunk %d: %s" % (i, proc.stdout))
        check(not outputs_in(split), "a chunk run wrote outputs: %s" % outputs_in(split))
    print("chunks: %.1f s" % (time.time() - t0))
    ranges = [progress_of(c, cfg) for c in chunk]
    for phase in ("permutations", "encodability", "bootstrap"):
        r = [p[phase] for p in ranges]
        check(all(done == end - begin for done, begin, end in r), "%s: a chunk is not complete: %s" % (phase, r))
        check(r[0][1] == 0 and r[0][2] == r[1][1] and r[1][2] == r[2][1], "%s: chunks do not tile: %s" % (phase, r))
    check(ranges[2]["permutations"][2] == 1000 and ranges[0]["permutations"][2] > 0, "permutation ranges %s"
          % [p["permutations"] for p in ranges])

    # A complete chunk run again does nothing.
    before = read_bytes(chunk[1]), os.stat(chunk[1]).st_mtime_ns
    proc = run_wsc(["run", cfg, "--chunk", "1/3"], ranks=2)
    check("chunk 1 of 3 is already complete (%s)" % chunk[1] in proc.stdout, "rerun: %s" % proc.stdout)
    check((read_bytes(chunk[1]), os.stat(chunk[1]).st_mtime_ns) == before, "a complete chunk was rewritten")

    # Refusals, each in a copy of the chunks (no outputs written by any).
    def copy(name):
        d = os.path.join(tmp, name)
        shutil.copytree(chunks, os.path.join(d, "chunks"))
        return d, os.path.join(d, "chunks")

    missing, missing_chunks = copy("missing")
    os.remove(os.path.join(missing_chunks, "chunk-1-of-3.wsc"))
    proc = run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + missing], check_ok=False)
    one_error_line(proc, "chunk 1 of 3 is missing", missing_chunks)
    check(not outputs_in(missing), "merge of missing chunks wrote outputs")

    two, two_chunks = copy("two_splits")
    shutil.copy(chunk[0], os.path.join(two_chunks, "chunk-0-of-2.wsc"))
    proc = run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + two], check_ok=False)
    one_error_line(proc, "holds chunks of two splits", two_chunks)
    check(not outputs_in(two), "merge of two splits wrote outputs")

    # A chunk of another config (another permutation seed) copied in.
    other_cfg, other = fixture(tmp, permutations=1000, out="other", config="other.toml", seed=4)
    run_wsc(["run", other_cfg, "-q", "--chunk", "1/3"])
    foreign, foreign_chunks = copy("foreign")
    shutil.copy(os.path.join(other, "chunks", "chunk-1-of-3.wsc"), os.path.join(foreign_chunks, "chunk-1-of-3.wsc"))
    proc = run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + foreign], ranks=2, check_ok=False)
    one_error_line(proc, os.path.join(foreign_chunks, "chunk-1-of-3.wsc"), "was made by another config or input")
    check(not outputs_in(foreign), "merge with a foreign chunk wrote outputs")

    # Merging under another permutation count (the chunks are of 1000).
    proc = run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + foreign, "--set", "permutation.count=900"],
                   check_ok=False)
    one_error_line(proc)

    # An incomplete chunk: chunk 2 run again from nothing and stopped (SIGTERM).
    partial, partial_chunks = copy("incomplete")
    state = os.path.join(partial_chunks, "chunk-2-of-3.wsc")
    os.remove(state)
    args = ["run", cfg, "--chunk", "2/3", "--set", "output.dir=" + partial]
    proc = start(args, ranks=0)
    done = wait_for(proc, state, cfg, at_least=32)
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    check_stopped(proc, partial, state, "chunk stopped by SIGTERM", status=EXIT_RESUMABLE)
    saved = progress_of(state, cfg)["permutations"]
    check(done <= saved[0] < saved[2] - saved[1], "stopped chunk progress (done, begin, end) %s" % (saved,))
    proc = run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + partial], ranks=2, check_ok=False)
    one_error_line(proc, "incomplete")
    check(not outputs_in(partial), "merge of an incomplete chunk wrote outputs")
    proc = run_wsc(args, ranks=2)
    check("continued and completed chunk 2 of 3" in proc.stdout, "the stopped chunk did not continue: %s"
          % proc.stdout)
    run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + partial])
    same_outputs(partial, whole, "merge after a stopped chunk continued")

    # The merge itself (at 2 ranks).
    proc = run_wsc(["merge", cfg], ranks=2)
    check("results written to %s" % split in proc.stdout, "merge: %s" % proc.stdout)
    same_outputs(split, whole, "merged chunks")
    same_datasets(split, whole, "merged chunks", randomised_datasets(whole))
    a, b = read_summary(split), read_summary(whole)
    for key in ("permutations", "encodability", "bootstrap"):
        check(a[key] == b[key], "summary %s: merged %s, whole %s" % (key, a[key], b[key]))
    # Merged again alone: the same bytes.
    os.remove(os.path.join(split, "wsc.csv"))
    run_wsc(["merge", cfg, "-q"])
    same_outputs(split, whole, "merged alone")


def test_sigterm_resume(tmp):
    """Stop signals at 2 ranks: the state is saved, the same command
    continues from it (twice) and ends with the uninterrupted outputs."""
    cfg, out = fixture(tmp, permutations=1200)
    state = os.path.join(out, "checkpoint.wsc")
    reference = os.path.join(tmp, "reference")
    ref = run_wsc(["run", cfg, "-q", "--set", "output.dir=" + reference], ranks=2)
    check(not os.path.exists(os.path.join(reference, "checkpoint.wsc")), "a finished run left its checkpoint")
    args = ["run", cfg]

    # SIGTERM to mpiexec itself is left out: Open MPI's mpiexec passes it on
    # only about 1 s before it kills the ranks (odls_base_sigkill_timeout), so
    # whether the ranks save on it or finish first depends on timing (README).
    saved = 150 - 64
    leftovers = []
    # 1. SIGUSR1 to mpiexec (forwarded as is) and 2. SIGTERM to the ranks
    # themselves: the ranks save and exit 75, which mpiexec reports.
    for how, signum in (("usr1", signal.SIGUSR1), ("ranks", signal.SIGTERM)):
        proc = start(args, ranks=2)
        wait_for(proc, state, cfg, at_least=saved + 64)
        interrupt(proc, how)
        # MPICH's mpiexec (hydra) passes SIGUSR1 on, and the ranks save and exit
        # 75, but hydra itself then exits 0 in some runs (about 1 in 3 here): the
        # stop message and the saved state are what tell (README). Its status
        # after ranks stopped by SIGTERM, and srun's, are 75.
        hydra = "hydra" in os.path.basename(os.path.realpath(MPIEXEC))
        status = (0, EXIT_RESUMABLE) if (how == "usr1" and hydra) else EXIT_RESUMABLE
        check_stopped(proc, out, state, "stopped by %s" % how, status=status, signum=signum)
        check("continued from" not in proc.stdout_text, "a stopped run reports nothing on stdout")
        now = perms_done(state, cfg)
        check(saved + 64 <= now < 1200, "%s: saved %d after %d" % (how, now, saved))
        check(not temporaries_in(out), "temporary files left after a saved stop: %s" % temporaries_in(out))
        saved = now

    # 3. Run again to the end: every state it saves is past the saved one.
    proc = start(args, ranks=2)
    seen = watch_until_done(proc, state, cfg)
    check(proc.returncode == 0, "the continued run failed (%d):\n%s" % (proc.returncode, proc.stderr_text))
    check("continued from %s" % state in proc.stdout_text, "no 'continued from': %s" % proc.stdout_text)
    check(seen and min(seen) >= saved, "the continued run went back: states seen %s, saved %d" % (seen, saved))
    check(not os.path.exists(state), "the checkpoint outlived the finished run")
    check(sorted(temporaries_in(out)) == sorted(leftovers), "temporary files left: %s" % temporaries_in(out))
    same_outputs(out, reference, "run stopped twice")
    same_datasets(out, reference, "run stopped twice", randomised_datasets(reference))
    check(read_summary(out)["permutations"] == read_summary(reference)["permutations"], "summary permutations")
    t_ref = read_summary(reference)["timings_seconds"]["permutations"]
    t_last = read_summary(out)["timings_seconds"]["permutations"]
    print("uninterrupted %.1f s (permutations %.2f s); last continuation from %d of 1200: permutations %.2f s"
          % (ref.seconds, t_ref, saved, t_last))

    # Alone (no mpiexec): SIGTERM, exit 75.
    alone = os.path.join(tmp, "alone")
    proc = start(["run", cfg, "--set", "output.dir=" + alone], ranks=0)
    wait_for(proc, os.path.join(alone, "checkpoint.wsc"), cfg, at_least=100)
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    check_stopped(proc, alone, os.path.join(alone, "checkpoint.wsc"), "SIGTERM alone", status=EXIT_RESUMABLE)


def test_sigkill_resume(tmp):
    """SIGKILL (no chance to save) between two checkpoints: the run again
    continues from the last checkpoint and ends with the uninterrupted outputs."""
    cfg, out = fixture(tmp, permutations=1200)
    state = os.path.join(out, "checkpoint.wsc")
    reference = os.path.join(tmp, "reference")
    run_wsc(["run", cfg, "-q", "--set", "output.dir=" + reference], ranks=2)
    proc = start(["run", cfg], ranks=2)
    reached = wait_for(proc, state, cfg, at_least=300)
    # Just after a save: the next one is an interval away.
    wait_for(proc, state, cfg, at_least=reached + 1)
    kill_session(proc)
    check(proc.returncode != 0, "killed run exit status %d" % proc.returncode)
    check(not outputs_in(out), "a killed run left outputs: %s" % outputs_in(out))
    check(not temporaries_in(out), "a kill between checkpoints left temporary files: %s" % temporaries_in(out))
    saved = perms_done(state, cfg)
    check(reached < saved < 1200, "the checkpoint holds %d of 1200 (seen %d before the kill)" % (saved, reached))

    proc = start(["run", cfg], ranks=2)
    seen = watch_until_done(proc, state, cfg)
    check(proc.returncode == 0, "the continued run failed (%d):\n%s" % (proc.returncode, proc.stderr_text))
    check("continued from %s" % state in proc.stdout_text, "no 'continued from': %s" % proc.stdout_text)
    check(seen and min(seen) >= saved, "the continued run went back: states seen %s, saved %d" % (seen, saved))
    check(not os.path.exists(state), "the checkpoint outlived the finished run")
    same_outputs(out, reference, "run killed and continued")
    same_datasets(out, reference, "run killed and continued", randomised_datasets(reference))
    print("killed after %d of 1200 permutations; continued in %.1f s (permutations %.2f s, uninterrupted %.2f s)"
          % (saved, proc.seconds, read_summary(out)["timings_seconds"]["permutations"],
             read_summary(reference)["timings_seconds"]["permutations"]))


def test_bad_checkpoints(tmp):
    """Whatever sits at the checkpoint path and is not this run's state is
    refused: exit 1, one error line naming the file and the problem, no
    outputs, the file left as it was."""
    cfg, out = fixture(tmp, permutations=60, n=300, d=8)
    state = os.path.join(out, "checkpoint.wsc")
    # A valid state file of this config: its chunk 0 of 2 (same format).
    run_wsc(["run", cfg, "-q", "--chunk", "0/2"])
    good = read_bytes(os.path.join(out, "chunks", "chunk-0-of-2.wsc"))
    shutil.rmtree(os.path.join(out, "chunks"))
    size = len(good)
    check(size > 28 + 64, "checkpoint of %d bytes" % size)

    # States of other runs: another seed, one label changed, one embedding value changed.
    foreign = {}
    other_cfg, other_out = fixture(tmp, permutations=60, out="o_seed", config="seed.toml", seed=4, n=300, d=8)
    run_wsc(["run", other_cfg, "-q", "--chunk", "0/2"])
    foreign["another seed"] = read_bytes(os.path.join(other_out, "chunks", "chunk-0-of-2.wsc"))
    for what, dataset in (("another label", "labels/sex"), ("another embedding", "embeddings")):
        model = os.path.join(tmp, "model.h5")
        changed = os.path.join(tmp, dataset.replace("/", "_") + ".h5")
        shutil.copy(model, changed)
        with h5py.File(changed, "a") as f:
            v = f[dataset][()]
            v.flat[7] = 1 - v.flat[7] if dataset.startswith("labels") else v.flat[7] + 1e-9
            f[dataset][...] = v
        c = write_config(os.path.join(tmp, "x.toml"), changed, os.path.join(tmp, "x_out"), permutations=60,
                         extra=EXTRA)
        # Same config text except the input file: the inputs decide.
        run_wsc(["run", c, "-q", "--chunk", "0/2"])
        foreign[what] = read_bytes(os.path.join(tmp, "x_out", "chunks", "chunk-0-of-2.wsc"))
        shutil.rmtree(os.path.join(tmp, "x_out"))

    flipped = bytearray(good)
    flipped[28 + (size - 28) // 2] ^= 0x10
    version = bytearray(good)
    ours = struct.unpack("<I", good[8:12])[0]
    version[8:12] = struct.pack("<I", ours + 1)
    cases = [
        ("truncated", good[: size // 2], ["is truncated", "has %d bytes, expected %d" % (size // 2, size)]),
        ("truncated header", good[:20], ["is truncated", "has 20 bytes"]),
        ("empty", b"", ["is truncated", "has 0 bytes"]),
        ("corrupted", bytes(flipped), ["is corrupted", "checksum"]),
        ("trailing bytes", good + b"\0", ["trailing bytes"]),
        ("not a checkpoint", b"[input]\nembeddings = \"model.h5\"\n" * 4, ["is not a wsc checkpoint"]),
        ("other version", bytes(version), ["format version %d" % (ours + 1), "reads version %d" % ours]),
    ]
    cases += [(what, data, ["was saved by another config or input"]) for what, data in foreign.items()]
    os.makedirs(out, exist_ok=True)
    for i, (what, data, words) in enumerate(cases):
        write_bytes(state, data)
        ranks = 2 if i % 3 == 0 else 0
        proc = run_wsc(["run", cfg], ranks=ranks, check_ok=False)
        line = one_error_line(proc, state, *words)
        print("%-18s %s" % (what, line))
        check(read_bytes(state) == data, "%s: the checkpoint was changed" % what)
        check(sorted(os.listdir(out)) == ["checkpoint.wsc"], "%s: files in the output folder: %s"
              % (what, sorted(os.listdir(out))))
    # A folder in its place.
    os.remove(state)
    os.makedirs(state)
    proc = run_wsc(["run", cfg], check_ok=False)
    one_error_line(proc, state, "is not a regular file")
    os.rmdir(state)
    # A valid state of this config that is not a whole run's (a chunk's).
    write_bytes(state, good)
    proc = run_wsc(["run", cfg], ranks=2, check_ok=False)
    line = one_error_line(proc, state, "another chunk or split")
    print("%-18s %s" % ("a chunk's state", line))
    check(read_bytes(state) == good and sorted(os.listdir(out)) == ["checkpoint.wsc"], "chunk state: files changed")
    # Without a file: a fresh run, which leaves no checkpoint.
    os.remove(state)
    run_wsc(["run", cfg, "-q"])
    check(sorted(os.listdir(out)) == sorted(OUTPUTS), "outputs of the fresh run: %s" % os.listdir(out))


if __name__ == "__main__":
    main({"chunks_merge": test_chunks_merge, "sigterm_resume": test_sigterm_resume,
          "sigkill_resume": test_sigkill_resume, "bad_checkpoints": test_bad_checkpoints})
