"""A large point file (makerspaces, coworking, census layers) is read columnar and gives the same cells as
the careful row reader: text or None, stripped, same row numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from etl import readers
from etl.sources.point_files import read_point_file


def test_large_point_file_read_columnar_same_cells(tmp_path: Path) -> None:
    path = tmp_path / "makerspace_grande.csv"
    rows = ["nome;indirizzo;lon;lat;note"]
    rows += [f"Lab {i}; Via Roma {i} ;9,{180000 + i % 1000};45,{460000 + i % 997};{'nota ' * (i % 40)}"
             for i in range(160_000)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert path.stat().st_size >= readers.COLUMNAR_MIN_BYTES  # the columnar path is the one under test
    table = read_point_file(path)
    careful = readers.read_table(path).frame
    assert all(t is np.dtype(object) for t in table.frame.dtypes)
    assert table.frame.equals(careful)
    assert table.frame.loc[0, "note"] is None and table.frame.loc[5, "indirizzo"] == "Via Roma 5"
    assert isinstance(readers.read_table_columnar(path).frame["nome"].dtype, pd.StringDtype)
