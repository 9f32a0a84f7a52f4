"""File storage: `ctx.storage` in queries, mutations and actions, `app.storage`, the files beside
the database (content-addressed, counted by reference), and what failures leave behind."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re

import pytest

from convex_lab import App, v
from convex_lab.errors import FileTooLarge, InvalidArgument, StorageIdNotFound
from convex_lab.ids import decode_id

from .conftest import check

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def files_on_disk(app: App) -> list[str]:
    """The names (sha256 hex) of the files in the App's storage folder."""
    return app._storage.blobs.files()


def consistent(app: App) -> None:
    """The files on disk are exactly those rows use, nothing is left in tmp/, the engine is whole."""
    app._storage.blobs._check()
    check(app)


def define(app: App) -> dict:
    @app.mutation
    def store(ctx, data, content_type=None):
        return ctx.storage.store(data, content_type)

    @app.mutation
    def store_twice_then_fail(ctx, data):
        ctx.storage.store(data)
        ctx.storage.store(data + b"!")
        raise ValueError("changed my mind")

    @app.mutation
    def read(ctx, id):
        return ctx.storage.get(id)

    @app.mutation
    def delete(ctx, id):
        ctx.storage.delete(id)

    @app.mutation
    def delete_then_fail(ctx, id):
        ctx.storage.delete(id)
        raise ValueError("changed my mind")

    @app.query
    def row(ctx, id):
        return ctx.db.system.get(id)

    @app.query
    def metadata(ctx, id):
        return ctx.storage.get_metadata(id)

    @app.query
    def url(ctx, id):
        return ctx.storage.get_url(id)

    @app.query
    def files(ctx):
        return [[doc["sha256"], doc["size"]] for doc in ctx.db.system.query("_storage").collect()]

    return locals()


@pytest.fixture
def fns(app):
    return define(app)


# -- from mutations, queries and actions -------------------------------------------------------


def test_a_mutation_stores_reads_and_deletes_a_file(app, fns):
    data = b"\x89PNG fake image bytes"
    storage_id = fns["store"](data=data, content_type="image/png")
    assert app._db.catalog.name_of(decode_id(storage_id)[0]) == "_storage"
    assert fns["read"](id=storage_id) == data
    row = fns["row"](id=storage_id)
    digest = hashlib.sha256(data).digest()
    # The row keeps what Convex's `_storage` rows keep: base64 sha256, size as a float.
    assert set(row) == {"_id", "_creationTime", "sha256", "size", "contentType"}
    assert row["sha256"] == base64.b64encode(digest).decode() and row["size"] == float(len(data))
    assert row["contentType"] == "image/png"
    meta = fns["metadata"](id=storage_id)
    assert meta["sha256"] == digest.hex() and meta["size"] == len(data) and meta["contentType"] == "image/png"
    assert UUID.match(meta["storageId"])
    assert files_on_disk(app) == [digest.hex()]
    fns["delete"](id=storage_id)
    assert fns["row"](id=storage_id) is None and fns["read"](id=storage_id) is None
    assert fns["metadata"](id=storage_id) is None and fns["url"](id=storage_id) is None
    assert files_on_disk(app) == []
    consistent(app)


def test_a_file_without_content_type_has_null(app, fns):
    storage_id = fns["store"](data=b"x")
    assert fns["row"](id=storage_id)["contentType"] is None
    assert fns["metadata"](id=storage_id)["contentType"] is None


def test_queries_read_urls_and_metadata_but_cannot_store(app, fns):
    @app.query
    def tries(ctx, method):
        getattr(ctx.storage, method)

    for method in ("store", "get", "delete", "generate_upload_url", "generateUploadUrl"):
        with pytest.raises(AttributeError, match=f"ctx.storage.{method} is not available in a query"):
            tries(method=method)
    storage_id = fns["store"](data=b"abc")
    url = fns["url"](id=storage_id)
    assert url == f"{app.url}/api/storage/{fns['metadata'](id=storage_id)['storageId']}"
    app.stop_serving()


def test_convex_names_are_the_same_methods(app, fns):
    @app.mutation
    def camel(ctx, id):
        return [ctx.storage.getUrl(id) is not None, ctx.storage.getMetadata(id)["size"],
                ctx.storage.generateUploadUrl().startswith(app.url)]

    storage_id = fns["store"](data=b"abc")
    assert camel(id=storage_id) == [True, 3.0, True]
    app.stop_serving()


def test_sync_and_async_actions_use_storage(app, fns):
    @app.action
    def sync_action(ctx, data):
        storage_id = ctx.storage.store(data, content_type="text/plain")
        meta = ctx.storage.get_metadata(storage_id)
        got = ctx.storage.get(storage_id)
        has_url = ctx.storage.get_url(storage_id) is not None
        ctx.storage.delete(storage_id)
        return [got, meta["contentType"], has_url, ctx.storage.get(storage_id)]

    @app.action
    async def async_action(ctx, data):
        storage_id = await ctx.storage.store(data)
        got = await ctx.storage.get(storage_id)
        upload = await ctx.storage.generate_upload_url()
        return [storage_id, got, upload.startswith(app.url + "/api/storage/upload?token=")]

    assert sync_action(data=b"one") == [b"one", "text/plain", True, None]
    storage_id, got, upload_ok = async_action(data=b"two")
    assert got == b"two" and upload_ok
    assert fns["row"](id=storage_id)["size"] == 3.0
    assert files_on_disk(app) == [hashlib.sha256(b"two").hexdigest()]
    consistent(app)
    app.stop_serving()


def test_app_storage_from_bytes_paths_and_file_objects(app, tmp_path):
    picture = tmp_path / "picture.png"
    picture.write_bytes(b"png bytes")
    from_path = app.storage.store(picture)
    from_str = app.storage.store(str(picture), content_type="application/x-mine")
    from_file = app.storage.store(io.BytesIO(b"from a file object"), "text/plain")
    from_bytes = app.storage.store(bytearray(b"raw"))
    assert app.storage.get(from_path) == b"png bytes" == app.storage.get(from_str)
    assert app.storage.get_metadata(from_path)["contentType"] == "image/png"  # guessed from the name
    assert app.storage.get_metadata(from_str)["contentType"] == "application/x-mine"
    assert app.storage.get(from_file) == b"from a file object" and app.storage.get(from_bytes) == b"raw"
    listed = app.storage.list()
    assert [row["_id"] for row in listed] == [from_path, from_str, from_file, from_bytes]
    assert len(app.storage) == 4 and "4 files" in repr(app.storage)
    assert len(files_on_disk(app)) == 3  # the two copies of picture.png share their bytes
    app.storage.delete(from_bytes)
    assert app.storage.get(from_bytes) is None and len(app.storage) == 3
    assert app.storage.generate_upload_url().startswith(app.url + "/api/storage/upload?token=")
    assert app.storage.get_url(from_file).startswith(app.url + "/api/storage/")
    consistent(app)
    app.stop_serving()


def test_wrong_arguments_are_refused_clearly(app, fns):
    note = app.run_mutation(app.mutation(lambda ctx: ctx.db.insert("notes", {}), name="add_note"))
    with pytest.raises(InvalidArgument, match=r'`storage.getUrl`: "' + note + '" is not an id of the "_storage" table'):
        fns["url"](id=note)
    with pytest.raises(InvalidArgument, match="is not an id"):
        app.storage.get(42)
    with pytest.raises(TypeError, match="must be bytes"):
        app.storage.store(["not", "bytes"])
    with pytest.raises(TypeError, match="text mode"):
        app.storage.store(io.StringIO("text"))
    with pytest.raises(TypeError, match="content_type must be a string"):
        app.storage.store(b"x", content_type=5)
    with pytest.raises(FileNotFoundError):
        app.storage.store(os.path.join(os.getcwd(), "no such file.bin"))
    assert files_on_disk(app) == [] and app.storage.list() == []
    consistent(app)


def test_deleting_a_missing_file_is_convex_error(app, fns):
    storage_id = fns["store"](data=b"x")
    fns["delete"](id=storage_id)
    with pytest.raises(StorageIdNotFound, match=f"^storage id {storage_id} not found$"):
        fns["delete"](id=storage_id)
    with pytest.raises(StorageIdNotFound):
        app.storage.delete(storage_id)


def test_the_files_uuid_works_as_a_legacy_storage_id(app, fns):
    storage_id = fns["store"](data=b"legacy", content_type="text/plain")
    handle = fns["metadata"](id=storage_id)["storageId"]
    assert fns["metadata"](id=handle)["sha256"] == hashlib.sha256(b"legacy").hexdigest()
    assert fns["url"](id=handle) == fns["url"](id=storage_id)
    fns["delete"](id=handle)
    assert fns["row"](id=storage_id) is None and fns["metadata"](id=handle) is None
    app.stop_serving()


# -- files on disk: dedup, reference counts, failures -----------------------------------------


def test_same_bytes_share_one_file_until_the_last_row_goes(app, fns):
    first = fns["store"](data=b"same bytes")
    second = app.storage.store(b"same bytes", content_type="text/plain")
    assert first != second and len(files_on_disk(app)) == 1
    fns["delete"](id=first)
    assert fns["read"](id=second) == b"same bytes"  # the other row still reads its bytes
    assert len(files_on_disk(app)) == 1
    app.storage.delete(second)
    assert files_on_disk(app) == []
    consistent(app)


def test_a_failed_mutation_leaves_no_row_and_no_bytes(app, fns):
    with pytest.raises(ValueError, match="changed my mind"):
        fns["store_twice_then_fail"](data=b"doomed")
    assert fns["files"]() == [] and files_on_disk(app) == []
    consistent(app)


def test_a_failed_mutation_keeps_bytes_that_committed_rows_use(app, fns):
    kept = fns["store"](data=b"doomed")  # the same bytes as the failing mutation's first file
    with pytest.raises(ValueError):
        fns["store_twice_then_fail"](data=b"doomed")
    assert fns["read"](id=kept) == b"doomed" and len(files_on_disk(app)) == 1
    consistent(app)


def test_a_failed_delete_keeps_the_file(app, fns):
    storage_id = fns["store"](data=b"precious")
    with pytest.raises(ValueError):
        fns["delete_then_fail"](id=storage_id)
    assert fns["read"](id=storage_id) == b"precious" and len(files_on_disk(app)) == 1
    consistent(app)


def test_a_rolled_back_nested_mutation_takes_its_file_with_it(app, fns):
    @app.mutation
    def outer(ctx):
        kept = ctx.storage.store(b"kept")
        try:
            ctx.run_mutation(fns["store_twice_then_fail"], {"data": b"dropped"})
        except ValueError:
            pass
        return kept

    kept = outer()
    assert [row["_id"] for row in app.storage.list()] == [kept]
    assert files_on_disk(app) == [hashlib.sha256(b"kept").hexdigest()]
    consistent(app)


def test_store_and_delete_in_one_mutation(app, fns):
    @app.mutation
    def churn(ctx):
        storage_id = ctx.storage.store(b"short-lived")
        ctx.storage.delete(storage_id)
        return ctx.storage.get(storage_id)

    assert churn() is None
    assert app.storage.list() == [] and files_on_disk(app) == []
    consistent(app)


# -- the size limit ---------------------------------------------------------------------------


def test_the_size_limit_refuses_larger_files_and_leaves_nothing(app, fns):
    assert app.storage.max_file_size == 1 << 30  # 1 GiB by default
    app.storage.max_file_size = 4
    assert fns["store"](data=b"1234")  # at the limit: fine
    for store in (lambda: fns["store"](data=b"12345"), lambda: app.storage.store(b"12345"),
                  lambda: app.storage.store(io.BytesIO(b"12345" * 1000))):
        with pytest.raises(FileTooLarge, match=r"larger than the file size limit \(4 bytes\)(.|\n)*max_file_size"):
            store()
    assert len(app.storage.list()) == 1 and len(files_on_disk(app)) == 1
    consistent(app)
    with pytest.raises(ValueError, match="max_file_size must be a number of bytes"):
        app.storage.max_file_size = -1


# -- the folder -------------------------------------------------------------------------------


def test_a_file_backed_app_keeps_its_files_across_reopening(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        storage_id = app.storage.store(b"durable", content_type="text/plain")
        handle = app.storage.get_metadata(storage_id)["storageId"]
        assert app.storage.folder == str(path) + ".storage"
    with App(path) as app:
        assert app.storage.get(storage_id) == b"durable"
        assert app.storage.get_metadata(storage_id)["storageId"] == handle  # URLs stay the same
        consistent(app)


def test_opening_sweeps_what_a_crash_left_unreferenced(tmp_path):
    path = tmp_path / "lab.duckdb"
    with App(path) as app:
        storage_id = app.storage.store(b"kept")
        folder = app.storage.folder
    orphan = hashlib.sha256(b"staged, never committed").hexdigest()
    with open(os.path.join(folder, orphan), "wb") as file:
        file.write(b"staged, never committed")
    os.makedirs(os.path.join(folder, "tmp"), exist_ok=True)
    with open(os.path.join(folder, "tmp", "half-written"), "wb") as file:
        file.write(b"half")
    with App(path) as app:
        assert files_on_disk(app) == [hashlib.sha256(b"kept").hexdigest()]
        assert not os.path.exists(os.path.join(folder, "tmp"))
        assert app.storage.get(storage_id) == b"kept"
        consistent(app)


def test_a_file_backed_app_without_files_makes_no_folder(tmp_path):
    with App(tmp_path / "lab.duckdb") as app:
        app.run_mutation(app.mutation(lambda ctx: ctx.db.insert("notes", {}), name="add"))
    assert sorted(os.listdir(tmp_path)) == ["lab.duckdb"]


def test_an_in_memory_apps_folder_is_removed_on_close():
    app = App()
    assert app.storage.folder is None  # made on first need
    app.storage.store(b"temporary")
    folder = app.storage.folder
    assert os.path.isdir(folder)
    app.close()
    assert not os.path.exists(folder)


# -- reactivity -------------------------------------------------------------------------------


def test_live_queries_follow_stores_and_deletes(app, fns):
    seen = []
    app.subscribe(fns["files"], {}, seen.append)
    storage_id = app.storage.store(b"watched")
    fns["store"](data=b"also watched")
    app.storage.delete(storage_id)
    app.flush()
    assert [len(result) for result in seen] == [0, 1, 2, 1]


def test_a_live_url_becomes_none_when_the_file_is_deleted(app, fns):
    storage_id = fns["store"](data=b"x")
    seen = []
    app.subscribe(fns["url"], {"id": storage_id}, seen.append)
    app.storage.delete(storage_id)
    app.flush()
    assert seen[0].startswith(app.url) and seen[1:] == [None]
    app.stop_serving()


def test_a_schema_can_refer_to_stored_files(app, fns):
    from convex_lab import define_schema, define_table

    app.set_schema(define_schema({"avatars": define_table({"file": v.id("_storage")})}))

    @app.mutation
    def upload_avatar(ctx, data):
        return ctx.db.insert("avatars", {"file": ctx.storage.store(data, "image/png")})

    avatar = upload_avatar(data=b"face")
    [doc] = app.run_query(app.query(lambda ctx: ctx.db.query("avatars").collect(), name="avatars"))
    assert doc["_id"] == avatar and app.storage.get(doc["file"]) == b"face"


def test_a_commit_that_swaps_rows_with_the_same_bytes_keeps_them(app):
    old_id = app.storage.store(b"swapped")
    fields = {k: val for k, val in app.storage.list()[0].items() if not k.startswith("_")}

    def swap(txn):
        txn.delete(old_id, system=True)
        return txn.insert("_storage", fields, system=True)

    new_id = app._db.run_mutation(swap)[0]  # nothing staged: only the commit's counts protect them
    assert app.storage.get(new_id) == b"swapped"
    consistent(app)
