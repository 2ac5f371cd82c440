"""Conformance suites shipped with ossrag, for its own backends and for third-party ones.

A backend's tests subclass a suite and override one fixture (Haystack's
``haystack/testing`` pattern)::

    import pytest
    from ossrag.testing.stores import VectorStoreSuite

    class TestMyStore(VectorStoreSuite):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(str(tmp_path / "x.db"))
            yield s
            s.close()

Suites: :class:`~ossrag.testing.embedders.EmbedderSuite`,
:class:`~ossrag.testing.stores.VectorStoreSuite` and
:class:`~ossrag.testing.llms.LLMStreamSuite`. They need pytest (a test
dependency, not a runtime one) and import nothing else beyond ossrag.
"""

__all__: list[str] = []
