"""Reading every byte of a finished episode back and checking it against the checksums written at
close (`layout.CHECKSUM_ATTR`), and the datasets against each other: what `hgd-inspect --verify`
runs. Damage is named per dataset. A recovered episode's checksums are those of what recovery
read back from the partial file; a dataset without one (a file from before checksums) is reported
as unverified, not as damaged."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from recorder import image_storage, layout


@dataclass
class Verdict:
    path: Path
    damaged: list[str] = field(default_factory=list)  # what is wrong, one line per dataset
    unverified: list[str] = field(default_factory=list)  # datasets without a checksum (recovered files)

    @property
    def ok(self) -> bool:
        return not self.damaged


def verify_file(path: Path, chunk_rows: int = 256) -> Verdict:
    """Read every dataset of ``path`` in blocks of rows and compare its CRC-32 with the stored one."""
    v = Verdict(Path(path))
    image_storage.ensure_filters()  # frames stored with Blosc read back like any other dataset
    try:
        f = h5py.File(path, "r")
    except Exception as e:  # noqa: BLE001 - whatever the library says, the file cannot be opened
        v.damaged.append(f"cannot be opened ({type(e).__name__}: {e})")
        return v
    with f:
        g = f.get(f"data/{layout.DEMO}")
        if g is None:
            v.damaged.append(f"no data/{layout.DEMO} group")
            return v
        n = g.attrs.get("num_samples")
        try:
            stored_all = json.loads(g.attrs.get(layout.CHECKSUM_ATTR, "{}"))
        except (TypeError, ValueError):
            stored_all = {}
            v.damaged.append(f"the {layout.CHECKSUM_ATTR} attribute is not readable JSON")
        names: list[str] = []
        g.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in sorted(names):
            ds = g[name]
            if n is not None and ds.shape[0] != int(n):
                v.damaged.append(f"{name}: {ds.shape[0]} rows, the episode has {int(n)}")
            crc = 0
            try:
                for start in range(0, ds.shape[0], chunk_rows):
                    crc = layout.crc32(ds[start:start + chunk_rows], crc)
            except Exception as e:  # noqa: BLE001 - a chunk that no longer decompresses
                v.damaged.append(f"{name}: unreadable ({type(e).__name__}: {e})")
                continue
            stored = stored_all.get(name)
            if stored is None:
                v.unverified.append(name)
            elif int(stored) != crc:
                v.damaged.append(f"{name}: checksum {crc:08x} does not match the one written at close "
                                 f"({int(stored):08x}): its bytes changed")
    return v
