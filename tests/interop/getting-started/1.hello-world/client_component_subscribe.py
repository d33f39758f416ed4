from autobahn.twisted.component import Component, run
from twisted.internet.defer import inlineCallbacks
import os
import argparse
import six

url = os.environ.get('CBURL', u'ws://localhost:8080/ws')
realmv = os.environ.get('CBREALM', u'realm1')
print(url, realmv)
component = Component(transports=url, realm=realmv)

@component.on_join
@inlineCallbacks
def joined(session, details):
    print("session ready")
    received = []

    def oncounter(msg):
        received.append(msg)
        print("event received: {0}".format(msg))
        if len(received) >= 5:
            # this subscriber exits after receiving 5 events
            session.leave()

    try:
        yield session.subscribe(oncounter, u'com.myapp.hello')
        print("subscribed to topic")
    except Exception as e:
        print("could not subscribe to topic: {0}".format(e))


if __name__ == "__main__":
    run([component])
