-- A notification is written three times on its way out: inserted by the
-- router, leased by a sender, marked sent. Room left on each page lets the
-- two updates stay on the row's page (HOT): no new entry in any of its
-- indexes, less WAL. Filled to the brim, about half of them moved pages.
ALTER TABLE notifications SET (fillfactor = 50);
