"""numpy arrays and pandas DataFrames in XCom values, in binary form inside the JSON.

Both are optional (``pip install 'tradewind[numpy]'`` / ``'tradewind[pandas]'``) and never
imported here unless a value is one (or a stored value holds one).

* A numpy array is stored as the bytes of a ``.npy`` file (``numpy.save`` without pickle),
  base64 in the JSON envelope: any shape, order and non-object dtype comes back exactly.
  Arrays of dtype ``object`` hold Python objects only pickle can store, and masked arrays
  would lose their mask, so both are refused. A numpy scalar (``numpy.int64(3)``, what
  ``df["n"].sum()`` returns) is stored as its dtype and value.
* A DataFrame is stored as an Arrow IPC file (Feather v2) with zstd, written and read by
  pyarrow. Not parquet, as Airflow uses: parquet has no second resolution, so a
  ``datetime64[s]`` column would come back as ``datetime64[ms]``; Arrow IPC keeps every
  dtype, and with zstd it is smaller than snappy parquet and two to three times faster to
  write and read. Without pyarrow, or for a frame Arrow cannot hold (duplicate column
  labels, an object column of mixed types), it is stored column by column instead:
  numeric, bool and datetime columns as ``.npy`` bytes, categorical ones as ``.npy`` codes
  plus their categories, and other columns (strings, Python objects, nullable dtypes) as
  their cells through the codec, each with its dtype's name. That form keeps the index, the
  column labels and every dtype pandas can name, but not a MultiIndex (such a frame needs
  pyarrow) nor ``DataFrame.attrs``.

>>> import pytest; np = pytest.importorskip("numpy")  # skipped where the extra is absent
>>> from tradewind.serialization.codec import decode, encode
>>> decode(encode({"m": np.eye(2, dtype=np.int8)}))["m"]
array([[1, 0],
       [0, 1]], dtype=int8)
"""

from __future__ import annotations

import base64
import binascii
import importlib
import io
import sys
from typing import Any

from tradewind.exceptions import XComError
from tradewind.serialization.extension import Rebuild, Recurse, Refused

# Scalar dtypes whose ``item()`` is a Python bool/int/float the dtype takes back exactly.
_PLAIN_SCALAR_KINDS = frozenset("biuf")


def _need(module: str, what: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise XComError(
            f"this stored value holds {what}; reading it needs {module} installed "
            f"(pip install 'tradewind[{extra}]')"
        ) from None


def _npy(array: Any) -> str:
    np = sys.modules["numpy"]
    if isinstance(array, np.ma.MaskedArray):
        raise Refused("a masked array would lose its mask; push .data and .mask apart")
    buf = io.BytesIO()
    try:
        np.save(buf, array, allow_pickle=False)
    except ValueError:
        raise Refused(
            f"numpy arrays of dtype {array.dtype} hold Python objects that only pickle can "
            "store; convert it (for example with .tolist())"
        ) from None
    return base64.b64encode(buf.getbuffer()).decode("ascii")


def _from_npy(raw: Any) -> Any:
    np = _need("numpy", "a numpy array", "numpy")
    if not isinstance(raw, str):
        raise XComError("stored numpy data is malformed: expected base64 text")
    try:
        data = base64.b64decode(raw, validate=True)
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, binascii.Error) as err:
        raise XComError(f"stored numpy data is malformed ({err})") from None


def encode_numpy(value: Any, recurse: Recurse) -> tuple[str, Any]:
    """``(kind, data)`` for a numpy array or scalar."""
    np = sys.modules["numpy"]
    if isinstance(value, np.ndarray):
        return "numpy.ndarray", _npy(value)
    dtype = value.dtype
    if dtype.kind in _PLAIN_SCALAR_KINDS and dtype.itemsize <= 8:
        return "numpy.scalar", [dtype.str, recurse(value.item(), "")]
    return "numpy.scalar", _npy(np.asarray(value))  # complex, datetime64, longdouble, ...


def decode_ndarray(raw: Any, rebuild: Rebuild) -> Any:
    """The array :func:`encode_numpy` stored."""
    return _from_npy(raw)


def decode_scalar(raw: Any, rebuild: Rebuild) -> Any:
    """The numpy scalar :func:`encode_numpy` stored."""
    if isinstance(raw, str):
        return _from_npy(raw)[()]
    np = _need("numpy", "a numpy scalar", "numpy")
    if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[0], str):
        raise XComError("stored numpy scalar is malformed: expected [dtype, value]")
    try:
        return np.dtype(raw[0]).type(rebuild(raw[1]))
    except (TypeError, ValueError, OverflowError) as err:
        raise XComError(f"stored numpy scalar is malformed ({err})") from None


def encode_dataframe(frame: Any, recurse: Recurse) -> tuple[str, Any]:
    """``(kind, data)`` for a pandas DataFrame: Arrow IPC, else column by column."""
    arrow = _arrow(frame)
    if arrow is not None:
        return "pandas.DataFrame", {"arrow": arrow}
    pd = sys.modules["pandas"]
    if isinstance(frame.index, pd.MultiIndex) or isinstance(frame.columns, pd.MultiIndex):
        raise Refused(
            "a DataFrame with a MultiIndex is stored by pyarrow, which is not installed "
            "(pip install 'tradewind[pandas]')"
        )
    columns = [_column(frame.iloc[:, i], recurse, f".iloc[:, {i}]") for i in range(frame.shape[1])]
    return "pandas.DataFrame", {
        "index": _column(frame.index, recurse, ".index"),
        "columns": _column(frame.columns, recurse, ".columns"),
        "data": columns,
    }


def _arrow(frame: Any) -> str | None:
    """The frame as a base64 Arrow IPC file, or ``None`` if pyarrow is missing or says no."""
    try:
        import pyarrow
        import pyarrow.ipc
    except ImportError:
        return None
    try:
        table = pyarrow.Table.from_pandas(frame)
    except (ValueError, TypeError, NotImplementedError, pyarrow.ArrowException):
        return None  # e.g. duplicate labels, mixed object columns: the column form holds those
    buf = io.BytesIO()
    options = pyarrow.ipc.IpcWriteOptions(compression="zstd")
    with pyarrow.ipc.new_file(buf, table.schema, options=options) as writer:
        writer.write_table(table)
    return base64.b64encode(buf.getbuffer()).decode("ascii")


def _column(values: Any, recurse: Recurse, label: str) -> dict[str, Any]:
    """A Series or an Index in the column form."""
    np, pd = sys.modules["numpy"], sys.modules["pandas"]
    spec: dict[str, Any] = {"name": recurse(values.name, f"{label}.name")}
    if isinstance(values, pd.RangeIndex):
        spec["range"] = [values.start, values.stop, values.step]
        return spec
    dtype = values.dtype
    spec["dtype"] = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        spec["categories"] = _column(dtype.categories, recurse, f"{label}.cat.categories")
        spec["ordered"] = bool(dtype.ordered)
        spec["npy"] = _npy(np.asarray(values.array.codes))
        return spec
    if isinstance(dtype, np.dtype):
        if not dtype.hasobject:
            spec["npy"] = _npy(values.to_numpy())
            return spec
        cells = values.to_numpy()
    else:
        try:
            same = pd.api.types.pandas_dtype(str(dtype)) == dtype
        except TypeError:
            same = False
        if not same:
            raise Refused(f"{label} has dtype {dtype}, which only pyarrow can store")
        cells = values.array.to_numpy(dtype=object, na_value=None)
    spec["cells"] = recurse(cells.tolist(), label)
    return spec


def decode_dataframe(raw: Any, rebuild: Rebuild) -> Any:
    """The DataFrame :func:`encode_dataframe` stored."""
    pd = _need("pandas", "a pandas DataFrame", "pandas")
    if not isinstance(raw, dict):
        raise XComError("stored DataFrame is malformed")
    if "arrow" in raw:
        _need("pyarrow", "a pandas DataFrame stored by pyarrow", "pandas")
        import pyarrow.ipc

        data = base64.b64decode(raw["arrow"], validate=True)
        return pyarrow.ipc.open_file(io.BytesIO(data)).read_all().to_pandas()
    try:
        index = _index(raw["index"], rebuild)
        arrays = {i: _array(spec, rebuild) for i, spec in enumerate(raw["data"])}
        frame = pd.DataFrame(arrays, index=index)
        frame.columns = _index(raw["columns"], rebuild)
        return frame
    except (KeyError, TypeError, ValueError) as err:
        raise XComError(f"stored DataFrame is malformed ({type(err).__name__}: {err})") from None


def _array(spec: dict[str, Any], rebuild: Rebuild) -> Any:
    pd = sys.modules["pandas"]
    if "categories" in spec:
        categories = _index(spec["categories"], rebuild)
        codes = _from_npy(spec["npy"])
        return pd.Categorical.from_codes(codes, categories=categories, ordered=spec["ordered"])
    if "npy" in spec:
        return _from_npy(spec["npy"])
    return pd.array(rebuild(spec["cells"]), dtype=pd.api.types.pandas_dtype(spec["dtype"]))


def _index(spec: dict[str, Any], rebuild: Rebuild) -> Any:
    pd = sys.modules["pandas"]
    name = rebuild(spec["name"])
    if "range" in spec:
        return pd.RangeIndex(*spec["range"], name=name)
    values = _array(spec, rebuild)
    return pd.Index(values, dtype=getattr(values, "dtype", None), name=name)
