"""moto's server with DynamoDB's per-item atomicity.

DynamoDB applies a conditional write atomically: two writers never both pass the same
condition. moto's threaded server checks a condition and writes without a lock, so two
concurrent requests can both pass. This launcher runs the same server with DynamoDB requests
handled one at a time (other services stay concurrent), so the tests' races are real races
with AWS's outcome.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the venv's python that has moto)
"""
import threading

from moto import server

_dynamodb = threading.Lock()
_Dispatcher = server.DomainDispatcherApplication


class SerializedDynamoDb(_Dispatcher):
    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _dynamodb:
                # Read the whole answer while holding the lock: the write is done by then.
                return list(super().__call__(environ, start_response))
        return super().__call__(environ, start_response)


server.DomainDispatcherApplication = SerializedDynamoDb

if __name__ == "__main__":
    server.main()
