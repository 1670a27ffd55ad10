-- A star or unstar changes the popularity search breaks ties with: the search index follows
-- it like any other change, when the count really moved. (Downloads stay out: one change per
-- download would be a write to the sequence for every install; the index takes them up with
-- the skill's next change.)
CREATE TRIGGER skill_changes_stars AFTER UPDATE OF stars ON skills WHEN OLD.stars IS NOT NEW.stars BEGIN
    INSERT INTO skill_changes (skill_id, at)
        VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
