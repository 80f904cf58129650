"""moto's server with DynamoDB's per-item atomicity.

DynamoDB applies a conditional write atomically: two writers never both pass the same
condition. moto's threaded server checks a condition and writes without a lock, so two
concurrent requests can both pass. This launcher runs the same server with DynamoDB requests
handled one at a time (other services stay concurrent), so the tests' races are real races
with AWS's outcome.

With --concurrent-dynamodb, DynamoDB requests stay concurrent as in moto's own server (for the
tests that need its throughput, not its atomicity); the transaction fix below applies either way.
SQS requests are handled one at a time in both modes (see `Serialized`).

Transactions: moto backs TransactWriteItems up by deep-copying the whole table (once per item
of the transaction) and rolls a cancelled one back by putting that copy in place of the table.
The copy costs about 0.1 s at a thousand items, holding the interpreter the whole time, which
AWS does not; and on the concurrent server the rollback also undoes whatever other clients
wrote meanwhile. Here a transaction backs up and restores only the items it names, as AWS's
transactions touch only their own items.

Usage: python moto_server.py [--concurrent-dynamodb] -H 127.0.0.1 -p PORT   (the venv's python
that has moto)
"""
import copy
import sys
import threading

from moto import server
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table

_dynamodb = threading.Lock()
_sqs = threading.Lock()
_Dispatcher = server.DomainDispatcherApplication


class Serialized(_Dispatcher):
    """SQS requests one at a time, and DynamoDB's too unless `--concurrent-dynamodb`."""

    serialize_dynamodb = True

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        # moto's SQS queue is not thread-safe: a delete rebuilds the message list while a
        # concurrent receive or send changes it, and a FIFO message group can stay locked by
        # a message that is gone, so its next message is never delivered. SQS itself is
        # consistent per queue; so is the stand-in, one request at a time (none of the
        # relay's receives long-poll, so the lock is held for milliseconds).
        if target.startswith("AmazonSQS."):
            lock = _sqs
        elif self.serialize_dynamodb and target.startswith("DynamoDB_"):
            lock = _dynamodb
        else:
            return super().__call__(environ, start_response)
        with lock:
            # Read the whole answer while holding the lock: the write is done by then.
            return list(super().__call__(environ, start_response))


class _TablesNotCopied:
    """`copy` for moto's DynamoDB models, except that a whole table is not deep-copied."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _key_of(backend, op_type, op):
    table = backend.get_table(op["TableName"])
    attrs = op["Item"] if op_type == "Put" else op["Key"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self, transact_items):
    backups = []
    try:
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            key = _key_of(self, op_type, op)
            current = self.get_item(op["TableName"], key)
            backups.append(
                (op["TableName"], key, current.to_json()["Attributes"] if current else None)
            )
    except Exception:
        # A malformed transaction: moto's own checks answer it.
        backups = []
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attributes in reversed(backups):
            if attributes is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise


dynamodb_models.copy = _TablesNotCopied()
dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    if "--concurrent-dynamodb" in sys.argv:
        sys.argv.remove("--concurrent-dynamodb")
        Serialized.serialize_dynamodb = False
    server.DomainDispatcherApplication = Serialized
    server.main()
