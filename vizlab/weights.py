"""`vizlab weights list` and `vizlab weights download vgg16` (no Qt here)."""

from __future__ import annotations

from pathlib import Path

from engine import pretrained


def describe(name: str = "vgg16") -> list[str]:
    """One line per place the weights are looked for: present (size, md5 checked),
    partly downloaded, or absent."""
    _, url, md5 = pretrained.KNOWN[name]
    lines = []
    for path in pretrained.candidate_paths(name):
        part = path.with_name(path.name + ".part")
        if path.is_file():
            ok = pretrained.file_md5(path) == md5
            state = (f"present, {path.stat().st_size / 1e6:.1f} MB, "
                     + ("md5 checked" if ok else f"md5 differs from {md5}: damaged?"))
        elif part.is_file():
            state = (f"partly downloaded ({part.stat().st_size / 1e6:.1f} MB): "
                     f"`vizlab weights download {name}` resumes it")
        else:
            state = "absent"
        lines.append(f"{name}: {path}: {state}")
    return lines


def weights_command(action: str, name: str, progress, error: type[Exception]) -> int:
    """The CLI's weights subcommand; `progress` draws the terminal bar, `error` is the
    CLI's user-error exception (message, exit code 2)."""
    if action == "list":
        lines = describe(name)
        print("\n".join(lines))
        if not any(": present" in line for line in lines):
            print(f"Get them with: vizlab weights download {name}")
        return 0
    filename, url, md5 = pretrained.KNOWN[name]
    found = pretrained.find_weights(name)
    if found is not None and pretrained.file_md5(found) == md5:
        print(f"{name} weights are already present: {found}")
        return 0
    dest = pretrained.cache_dir() / filename

    drawn = [-1]

    def show(done: int, total: int | None) -> None:
        megabytes = round((total or pretrained.VGG16_MEGABYTES * 1_000_000) / 1e6)
        now = min(round(done / 1e6), megabytes)
        if now != drawn[0]:  # redrawn once a megabyte, not at every chunk
            drawn[0] = now
            progress.show(now, megabytes, f"downloading {name} (MB)")

    try:
        path = pretrained.download(dest, url, md5, progress=show)
    except pretrained.DownloadError as exc:
        progress.end_line()
        raise error(str(exc)) from None
    progress.end_line()
    print(f"wrote {Path(path)} (md5 {md5} checked)")
    return 0
