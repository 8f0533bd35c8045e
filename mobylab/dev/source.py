"""The engine's source: clone or fetch a ref, tag, commit or pull request, never losing local work.

Every argument is validated before git sees it (refs by git's own rules and a
stricter character set, hex commits, positive PR numbers, URLs with a known
scheme or existing folders). Fetched refs land under refs/remotes/origin/, so
"not on any remote" means what it says, and a checkout with uncommitted changes
or commits that a new checkout would orphan is left alone unless --force.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .. import git, process, ui
from ..errors import SourceError, UsageError
from ..workspace import Workspace
from .mirrors import Remote, github_path, remote_for

STATE_NAME = "checkout"
URL_SCHEMES = ("https", "http", "ssh", "git", "file")
# Git allows more in a ref name (';', '$', '(' ...), but nothing a branch of the
# engine uses: keeping to this set means a ref can never look like shell syntax.
_REF_CHARS = re.compile(r"[A-Za-z0-9._/+@-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")


# --- pure validation ---------------------------------------------------------------------


def ref_problem(ref: str) -> str | None:
    """Pure: why `ref` is not an acceptable branch, tag or ref name (None when it is)."""
    if not ref:
        return "it is empty"
    if ref.startswith("-"):
        return "it starts with '-'"
    if len(ref) > 255:
        return "it is longer than 255 characters"
    if not _REF_CHARS.fullmatch(ref):
        bad = sorted({c for c in ref if not _REF_CHARS.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad)
        return f"it contains {shown} (allowed: letters, digits and . _ / + @ -)"
    if ref == "@":
        return "'@' alone is not a ref"
    if ".." in ref:
        return "it contains '..'"
    if "@{" in ref:
        return "it contains '@{'"
    if "//" in ref or ref.startswith("/") or ref.endswith("/"):
        return "it has an empty path component"
    if ref.endswith(".") or ref.endswith(".lock"):
        return "it ends with '.' or '.lock'"
    if any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/")):
        return "a path component starts with '.' or ends with '.lock'"
    return None


def validate_ref(ref: str) -> str:
    """Pure: `ref` unchanged, or a UsageError naming what is wrong with it."""
    problem = ref_problem(ref)
    if problem:
        raise UsageError(f"invalid ref {ref!r}: {problem}", "Give a branch, a tag or a commit SHA.")
    return ref


def is_sha(value: str, *, minimum: int = 7) -> bool:
    """Pure: an abbreviated (>= `minimum` digits) or full SHA-1/SHA-256 commit id."""
    return minimum <= len(value) <= 64 and bool(_HEX.fullmatch(value))


def validate_sha(value: str) -> str:
    if not is_sha(value):
        raise UsageError(
            f"invalid commit {value!r}: expected 7 to 64 hexadecimal digits",
            "Give a commit SHA such as 0123abc.",
        )
    return value.lower()


def validate_pr(value: Any) -> int:
    """Pure: a pull request number as a positive integer."""
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0 or len(text) > 9:
        raise UsageError(
            f"invalid pull request number {value!r}: expected a positive integer",
            "Give the number shown on the pull request, e.g. --pr 32063.",
        )
    return int(text)


class RepoKind(StrEnum):
    URL = "url"
    PATH = "path"


def repo_kind(repo: str) -> RepoKind:
    """Pure: a URL or a path, for an acceptable repository; UsageError otherwise.

    Messages name the repository as `shown` does: never with its password or token.
    """
    hint = "Give a URL (https, http, ssh, git or file) or the path of a local repository."
    text = shown(repo)
    if not repo or not repo.strip():
        raise UsageError("the repository is empty", hint)
    if repo.startswith("-"):
        raise UsageError(f"invalid repository {text!r}: it starts with '-'", hint)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in repo):
        raise UsageError(f"invalid repository {text!r}: it contains spaces or control characters")
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", repo)
    if scheme:
        name = scheme.group(1).lower()
        if name not in URL_SCHEMES:
            raise UsageError(
                f"invalid repository {text!r}: the scheme {name!r} is not allowed", hint
            )
        try:
            parsed = urlparse(repo)
            hostname, _ = parsed.hostname, parsed.port
        except ValueError as exc:
            raise UsageError(f"invalid repository {text!r}: {exc}", hint) from None
        if name == "file":
            if not parsed.path:
                raise UsageError(f"invalid repository {text!r}: no path", hint)
        elif not hostname or hostname.startswith("-"):
            raise UsageError(f"invalid repository {text!r}: no valid host", hint)
        return RepoKind.URL
    if "::" in repo:
        raise UsageError(f"invalid repository {text!r}: git transports are not allowed", hint)
    return RepoKind.PATH


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")


def shown(repo: str) -> str:
    """Pure: a repository as messages show it, without a password or token in the URL."""
    if "://" not in repo:
        return repo
    match = _USERINFO.match(repo)
    if match is None:
        return repo
    userinfo = match.group("userinfo")
    # An ssh user name alone (ssh://git@host) is no secret; anything else in http(s)
    # userinfo, and any password, may be one.
    if ":" not in userinfo and not match.group("scheme").lower().startswith("http"):
        return repo
    return match.group("scheme") + "***@" + repo[match.end() :]


def checkout_name(repo: str) -> str:
    """Pure: the checkout folder name for a repository (its last path component)."""
    path = urlparse(repo).path if "://" in repo else repo
    last = path.rstrip("/").split("/")[-1] if path.rstrip("/") else ""
    if last.endswith(".git"):
        last = last[: -len(".git")]
    name = re.sub(r"[^A-Za-z0-9._-]", "-", last).strip(".-")
    return name or "engine"


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"
    PULL = "pull"
    REF = "ref"


@dataclass(frozen=True)
class RemoteRef:
    """A ref the remote advertises: its full name, the commit, and what kind it is."""

    name: str
    commit: str
    kind: RefKind


def parse_ls_remote(text: str) -> dict[str, str]:
    """Pure: `git ls-remote` output -> {refname: sha}; peeled tags win over tag objects."""
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 2:
            continue
        sha, name = parts[0].strip(), parts[1].strip()
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha
        else:
            refs[name] = sha
    refs.update({name: sha for name, sha in peeled.items()})
    return refs


def pick_remote_ref(refs: dict[str, str], ref: str) -> RemoteRef | None:
    """Pure: the advertised ref `ref` means: a full refname, then a branch, then a tag."""
    candidates = [ref] if ref.startswith("refs/") else []
    candidates += [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    for name in candidates:
        if name in refs:
            if name.startswith("refs/heads/"):
                kind = RefKind.BRANCH
            elif name.startswith("refs/tags/"):
                kind = RefKind.TAG
            elif name.startswith("refs/pull/"):
                kind = RefKind.PULL
            else:
                kind = RefKind.REF
            return RemoteRef(name, refs[name], kind)
    return None


def tracking_ref(remote_ref: RemoteRef) -> str:
    """Pure: where a fetched ref is kept locally (so its commits count as on a remote)."""
    name = remote_ref.name
    if remote_ref.kind == RefKind.BRANCH:
        return "refs/remotes/origin/" + name[len("refs/heads/") :]
    if remote_ref.kind == RefKind.TAG:
        return name
    return "refs/remotes/origin/" + name[len("refs/") :]


def local_branch(remote_ref: RemoteRef) -> str | None:
    """Pure: the local branch a checkout of this ref sits on (None: detached HEAD)."""
    if remote_ref.kind == RefKind.BRANCH:
        return remote_ref.name[len("refs/heads/") :]
    if remote_ref.kind == RefKind.PULL:
        number = remote_ref.name.split("/")[2]
        return f"pr-{number}"
    return None


def check_ref_format(ref: str) -> None:
    """git's own rules on top of ours (refs never reach git unvalidated)."""
    validate_ref(ref)
    if not git.run(["check-ref-format", "--allow-onelevel", ref]).ok:
        raise UsageError(f"invalid ref {ref!r}: git refuses it as a ref name")


def is_git_checkout(path: Path) -> bool:
    """A folder that is the top of a git work tree (not merely inside one)."""
    if not (path / ".git").exists():
        return False
    top = git.run(["rev-parse", "--show-toplevel"], path)
    return top.ok and Path(top.out.strip()).resolve() == path.resolve()


@dataclass
class LocalWork:
    """What a new checkout would throw away."""

    files: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.commits)

    def summary(self) -> str:
        parts = []
        if self.files:
            parts.append(f"{len(self.files)} changed file{'s' if len(self.files) != 1 else ''}")
        if self.commits:
            n = len(self.commits)
            parts.append(f"{n} commit{'s' if n != 1 else ''} not on any remote")
        return " and ".join(parts)


def local_work(checkout: Path, target_branch: str | None) -> LocalWork:
    """Uncommitted changes, and commits that only HEAD or the branch we reset hold.

    Commits on other local branches, tags or remote-tracking refs survive a new
    checkout, so they are not at risk.
    """
    work = LocalWork()
    status = git.run(["status", "--porcelain=v1", "--untracked-files=all"], checkout).out
    work.files = [line for line in status.splitlines() if line.strip()]
    if not git.run(["rev-parse", "--verify", "-q", "HEAD"], checkout).ok:
        return work
    at_risk = ["HEAD"]
    branch_ref = f"refs/heads/{target_branch}"
    if target_branch and git.run(["rev-parse", "--verify", "-q", branch_ref], checkout).ok:
        at_risk.append(branch_ref)
    head_ref = git.run(["symbolic-ref", "-q", "HEAD"], checkout).out.strip()
    excluded = [f"refs/heads/{target_branch}"] if target_branch else []
    keep_branches = [f"--exclude={name.removeprefix('refs/heads/')}" for name in excluded] + [
        "--branches"
    ]
    if head_ref and head_ref not in excluded:
        # HEAD is on a branch we keep: its commits are safe there.
        at_risk = [r for r in at_risk if r != "HEAD"]
    if not at_risk:
        return work
    log = git.run(
        [
            "log",
            "--no-decorate",
            "--format=%h %s",
            *at_risk,
            "--not",
            "--remotes",
            "--tags",
            *keep_branches,
        ],
        checkout,
    )
    if log.ok:
        work.commits = [line for line in log.out.splitlines() if line.strip()]
    return work


def describe_loss(work: LocalWork) -> list[str]:
    """Pure: the lines printed before --force discards local work."""
    lines: list[str] = []
    if work.files:
        lines.append("uncommitted changes that will be lost:")
        lines += [f"  {line}" for line in work.files]
    if work.commits:
        lines.append("commits that will be lost (not on any remote):")
        lines += [f"  {line}" for line in work.commits]
    return lines


@dataclass(frozen=True)
class CheckoutRecord:
    """What dev.clone checked out, saved for later tasks."""

    path: str
    repo: str
    ref: str
    pr: int | None
    commit: str
    branch: str | None
    shallow: bool
    fetched_at: float
    # Where it was fetched from: `repo` itself, or a mirror's copy of it.
    remote: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> CheckoutRecord | None:
        """The record `as_dict` saved (None for anything else: a torn or foreign file)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except TypeError:
            return None


def load_checkout(workspace: Workspace) -> CheckoutRecord | None:
    return CheckoutRecord.from_dict(workspace.load_state(STATE_NAME))


def _resolve_repo(repo: str) -> str:
    if repo_kind(repo) == RepoKind.URL:
        return repo
    path = Path(repo).expanduser()
    if not path.exists():
        raise UsageError(
            f"invalid repository {repo!r}: not a URL and no such folder",
            "Give a URL (https, http, ssh, git or file) or the path of a local repository.",
        )
    return str(path.resolve())


def _ls_remote(repo: str, patterns: Sequence[str]) -> dict[str, str]:
    listed = git.run(["ls-remote", "--", repo, *patterns], timeout=300)
    if not listed.ok:
        err = listed.stderr
        if "does not appear to be a git repository" in err or "not a git repository" in err:
            raise SourceError(
                f"{shown(repo)} is not a git repository",
                "Give the engine's repository URL or path.",
            )
        offline = (
            ", or point the mirrors setting (MOBYLAB_MIRRORS) at a folder of bare repositories "
            "that holds it"
            if github_path(repo)
            else ""
        )
        raise SourceError(
            f"cannot read {shown(repo)}: {listed.reason}",
            f"Check the URL and your network{offline}.",
        )
    return parse_ls_remote(listed.out)


def fetched_from(record: CheckoutRecord) -> str:
    """Pure: "from <repo>" or "from the mirror <path> (for <repo>)" for a checkout."""
    mirror = record.remote.startswith("file://") and record.remote != record.repo
    if not mirror:
        return f"from {shown(record.repo)}"
    return f"from the mirror {record.remote.removeprefix('file://')} (for {shown(record.repo)})"


def _missing_hint(remote: Remote, otherwise: str = "Check the number.") -> str:
    """What to do when a ref or commit is not where we looked."""
    if remote.mirror is None:
        return otherwise
    return (
        f"The mirror {remote.mirror} lacks it: fetch it into the mirror, or leave the "
        "mirrors setting empty to fetch from the repository itself."
    )


def _fetch(checkout: Path, refspecs: Sequence[str], depth: bool, full: bool) -> git.Result:
    args = ["fetch", "--no-tags", "--quiet", "origin"]
    if depth:
        args[1:1] = ["--depth", "1"]
    elif full and _is_shallow(checkout):
        args[1:1] = ["--unshallow"]
    return git.run([*args, *refspecs], checkout, timeout=3600)


def _is_shallow(checkout: Path) -> bool:
    return git.run(["rev-parse", "--is-shallow-repository"], checkout).out.strip() == "true"


def clone(
    workspace: Workspace,
    repo: str,
    ref: str | None = None,
    pr: Any = None,
    *,
    full: bool = False,
    force: bool = False,
    mirrors: Sequence[str] = (),
) -> CheckoutRecord:
    """Clone or update <workspace>/checkouts/<name> at `ref` or pull request `pr`.

    A mirror folder that holds the repository (see dev.mirrors) is used instead of it.
    """
    # Validate everything before git runs.
    if pr is not None and ref is not None:
        raise UsageError("give --ref or --pr, not both")
    pr_number = validate_pr(pr) if pr is not None else None
    if ref is not None and pr_number is None:
        check_ref_format(ref)
    repo = _resolve_repo(repo)
    process.require("git")
    remote = remote_for(repo, mirrors)
    where = remote.url
    checkout = workspace.checkouts / checkout_name(repo)
    if checkout.exists() and not is_git_checkout(checkout):
        raise SourceError(
            f"{checkout} exists but is not a git repository; it was left alone",
            "Move it away or remove it, then run dev.clone again.",
        )

    # What the remote has.
    if pr_number is not None:
        wanted = f"refs/pull/{pr_number}/head"
        refs = _ls_remote(where, [wanted])
        target = pick_remote_ref(refs, wanted)
        if target is None:
            raise SourceError(
                f"pull request #{pr_number} is not in {shown(where)}", _missing_hint(remote)
            )
        ref_label = f"pull/{pr_number}"
    else:
        assert ref is not None
        refs = _ls_remote(where, [ref])
        target = pick_remote_ref(refs, ref)
        if target is None and not is_sha(ref):
            raise SourceError(
                f"unknown ref {ref!r} in {shown(where)}: no such branch or tag",
                _missing_hint(remote, "Check the name, or give a commit SHA."),
            )
        ref_label = ref
    branch = local_branch(target) if target else None

    # Guard local work before touching anything.
    if checkout.exists():
        work = local_work(checkout, branch)
        if work:
            if not force:
                raise SourceError(
                    f"{checkout} has local work ({work.summary()}); it was left untouched",
                    "Commit and push it (or keep it on another branch), "
                    "or rerun with --force to discard it.",
                )
            for line in describe_loss(work):
                ui.err.print(line, markup=False, highlight=False)
            git.checked(["reset", "--hard", "-q"], checkout)
            git.checked(["clean", "-fdq"], checkout)
            ui.warn(f"discarded the local work above in {checkout}")
        fresh = False
        git.checked(["remote", "set-url", "origin", where], checkout)
    else:
        checkout.parent.mkdir(parents=True, exist_ok=True)
        git.checked(["init", "-q", str(checkout)])
        git.checked(["remote", "add", "origin", where], checkout)
        fresh = True
    shallow = not full and (fresh or _is_shallow(checkout))
    try:
        commit = _fetch_and_check_out(checkout, remote, target, ref_label, branch, shallow, full)
    except BaseException:
        if fresh:  # mobylab made it a moment ago: nothing of the user's is in it
            shutil.rmtree(checkout, ignore_errors=True)
        raise
    record = CheckoutRecord(
        path=str(checkout),
        repo=repo,
        remote=where,
        ref=ref_label,
        pr=pr_number,
        commit=commit,
        branch=branch,
        shallow=_is_shallow(checkout),
        fetched_at=time.time(),
    )
    workspace.save_state(STATE_NAME, record.as_dict())
    return record


def _fetch_and_check_out(
    checkout: Path,
    remote: Remote,
    target: RemoteRef | None,
    ref_label: str,
    branch: str | None,
    shallow: bool,
    full: bool,
) -> str:
    """Fetch the ref (or commit) into `checkout` and check it out; its commit."""
    if target is not None:
        local = tracking_ref(target)
        fetched = _fetch(checkout, [f"+{target.name}:{local}"], shallow, full)
        if not fetched.ok:
            raise SourceError(
                f"fetching {target.name} from {shown(remote.url)} failed: {fetched.reason}"
            )
        commit_expr = f"{local}^{{commit}}"
    else:
        commit_expr = _fetch_commit(checkout, remote, ref_label, shallow, full)
    commit = git.checked(["rev-parse", "--verify", commit_expr], checkout).out.strip()

    # Check it out (clone guarded the local work first: nothing is lost).
    if branch:
        git.checked(["checkout", "-q", "-f", "-B", branch, commit], checkout)
    else:
        git.checked(["checkout", "-q", "-f", "--detach", commit], checkout)
    return commit


def _fetch_commit(checkout: Path, remote: Remote, sha: str, shallow: bool, full: bool) -> str:
    """Fetch a commit by SHA: directly when the server allows it, else all branches and tags."""
    sha = validate_sha(sha)
    local = _local_repository(remote.url)
    if len(sha) not in (40, 64) and local is not None:
        # A repository on this machine can name a short SHA's commit before the fetch.
        found = git.run(["rev-parse", "--verify", "-q", f"{sha}^{{commit}}"], local)
        sha = found.out.strip() if found.ok else sha
    keep = f"refs/remotes/origin/commit-{sha[:12]}"
    # A server fetches a commit by its full hash only.
    if len(sha) in (40, 64) and _fetch(checkout, [f"+{sha}:{keep}"], shallow, full).ok:
        return f"{keep}^{{commit}}"
    fetched = _fetch(
        checkout,
        ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
        False,
        True,
    )
    if not fetched.ok:
        raise SourceError(f"fetching from {shown(remote.url)} failed: {fetched.reason}")
    found = git.run(["rev-parse", "--verify", "-q", f"{sha}^{{commit}}"], checkout)
    if not found.ok:
        short = len(sha) not in (40, 64)
        raise SourceError(
            f"unknown ref {sha!r} in {shown(remote.url)}: no branch, tag or commit by that name",
            "Give the full 40-digit SHA: a server fetches a commit by its full hash only."
            if short
            else _missing_hint(remote, "Check the name or the SHA."),
        )
    full_sha = found.out.strip()
    git.checked(["update-ref", f"refs/remotes/origin/commit-{full_sha[:12]}", full_sha], checkout)
    return full_sha


def _local_repository(url: str) -> Path | None:
    """The folder of a remote on this machine (a mirror, a path), or None."""
    if "://" in url and not url.startswith("file://"):
        return None
    path = Path(url.removeprefix("file://"))
    return path if path.is_dir() else None


def head_info(checkout: Path) -> tuple[str, str | None]:
    """The checkout's commit and branch (None on a detached HEAD)."""
    if not is_git_checkout(checkout):
        raise SourceError(f"{checkout} is not a git checkout", "Run `invoke dev.clone` first.")
    commit = git.checked(["rev-parse", "--verify", "HEAD"], checkout).out.strip()
    branch = git.run(["symbolic-ref", "-q", "--short", "HEAD"], checkout)
    return commit, (branch.out.strip() or None) if branch.ok else None


def is_dirty(checkout: Path) -> bool:
    return bool(git.run(["status", "--porcelain=v1"], checkout).out.strip())


def default_checkout(workspace: Workspace) -> Path:
    """The checkout dev.clone recorded, for tasks given no --checkout."""
    record = load_checkout(workspace)
    if record is None or not Path(record.path).exists():
        raise SourceError(
            "no engine checkout yet", "Run `invoke dev.clone` or pass --checkout DIR."
        )
    return Path(record.path)


__all__ = [
    "CheckoutRecord",
    "LocalWork",
    "RefKind",
    "RemoteRef",
    "RepoKind",
    "check_ref_format",
    "checkout_name",
    "clone",
    "default_checkout",
    "describe_loss",
    "head_info",
    "is_sha",
    "load_checkout",
    "local_work",
    "parse_ls_remote",
    "pick_remote_ref",
    "ref_problem",
    "repo_kind",
    "shown",
    "validate_pr",
    "validate_ref",
    "validate_sha",
]
